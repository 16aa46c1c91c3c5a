import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, isAlive, Load, root, tempDir, until } from '@reload/test-helpers'
import { childrenOf } from './dev-helpers.js'
import { answeredBy, status, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

const spareApp = join(root, 'test/keeper/fixtures/spare-app.cjs')
const examplesHttp = join(root, 'examples/http/server.js')
const gate = join(root, 'test/keeper/fixtures/spare-gate.cjs')

/** A keeper of spare-app.cjs whose spares meet spare-gate.cjs as they boot, set to `mode`; its first worker's pid. */
async function gatedKeeper (mode: 'slow' | 'leave'): Promise<{ keeper: Awaited<ReturnType<typeof startKeeper>>, gateFile: string, worker: number }> {
  const gateFile = join(tempDir(), 'gate')
  writeFileSync(gateFile, mode)
  const keeper = await startKeeper([], { command: [process.execPath, spareApp], env: { NODE_OPTIONS: `--require=${gate}`, GATE_FILE: gateFile } })
  const [worker] = workers(keeper.fixture).map((w) => w.pid) as [number]
  return { keeper, gateFile, worker }
}

describe('reload run: the spare', () => {
  it.each([1, 2])('with %i worker(s), a SIGKILLed worker is replaced by the spare under keep-alive load: 0 refused, the app starts at once, and a new spare follows', async (count) => {
    const keeper = await startKeeper(['--workers', String(count)], { command: [process.execPath, spareApp] })
    const started = workers(keeper.fixture).map((w) => w.pid)
    const [first] = started as [number]
    const { match: ready } = await keeper.fixture.waitFor(/spare ready \(pid (\d+)\)/)
    const spare = Number(ready[1])
    const spareSince = Date.now()
    expect(spare).not.toBe(first)
    expect(childrenOf(keeper.pid).sort()).toEqual([...started, spare].sort())
    const connections = 8
    const load = new Load(keeper.url, { connections }).start()
    await load.servedBy(first, 50)
    const before = load.outcomes.length
    const held = Date.now() - spareSince
    process.kill(first, 'SIGKILL')
    await keeper.fixture.waitFor(new RegExp(`worker 1 starts from the spare \\(pid ${spare}\\)`))
    await keeper.fixture.waitFor(new RegExp(`worker 1 serves again \\(worker=${spare} `))
    // With two workers, the killed one's clients reconnect to the other, ready one: the load goes on, and
    // the replacement gets new connections.
    const after = load.outcomes.length
    await load.until((o) => o.length >= after + 200, '200 responses after the replacement')
    // With two workers, a new connection goes to the one with the fewest open, which may be either: new
    // connections, kept open, until the replacement answers one.
    const answer = (await answeredBy(keeper.url, [spare])).get(spare) as { pid: number, body: string }
    expect(answer.pid).toBe(spare)
    const outcomes = (await load.stop()).slice(before)
    expect(outcomes.filter((o) => o.error === 'ECONNREFUSED')).toEqual([])
    // Only what the killed worker had in flight fails: at most one request per connection.
    expect(load.failures.length).toBeLessThanOrEqual(connections)
    // Its process had waited, booted, since before the kill: its app's first line ran that much after its start.
    const firstLine = Number(/first-line=(\d+)/.exec(answer.body)?.[1])
    expect(firstLine).toBeGreaterThanOrEqual(held)
    // The keeper's variables are the preload's: the app sees none of them.
    expect(answer.body).toContain('hold=- generation=-')
    const { match: next } = await keeper.fixture.waitFor(/spare ready \(pid (\d+)\)/, { from: keeper.fixture.lines.findIndex((l) => l.text.includes('serves again')) })
    expect(Number(next[1])).not.toBe(spare)
    expect(isAlive(Number(next[1]))).toBe(true)
    const s = await status(keeper.control)
    expect(s.spare).toMatchObject({ pid: Number(next[1]), generation: 1, holding: true })
    expect(s.workers.map((w: { pid: number }) => w.pid).sort()).toEqual([...started.slice(1), spare].sort())
  })

  it('a roll starts its workers fresh, and the spare follows the new generation; the keeper exits with it on SIGTERM', async () => {
    const keeper = await startKeeper(['--workers', '2'], { command: [process.execPath, spareApp] })
    const { match } = await keeper.fixture.waitFor(/spare ready \(pid (\d+)\)/)
    const spare = Number(match[1])
    const from = keeper.fixture.lines.length
    process.kill(keeper.pid, 'SIGHUP')
    await keeper.fixture.waitFor(/generation 2 serves/, { from })
    const rolled = workers(keeper.fixture).filter((w) => w.generation === 2).map((w) => w.pid)
    expect(rolled).toHaveLength(2)
    expect(rolled).not.toContain(spare)
    expect(keeper.fixture.output).not.toMatch(/starts from the spare/)
    const { match: next } = await keeper.fixture.waitFor(/spare ready \(pid (\d+)\).*generation=2\)/, { from })
    const second = Number(next[1])
    await keeper.fixture.gone(spare)
    await answeredBy(keeper.url, rolled)
    process.kill(keeper.pid, 'SIGTERM')
    expect((await keeper.fixture.exited(20_000)).code).toBe(0)
    for (const pid of [second, ...rolled]) expect(isAlive(pid)).toBe(false)
  })

  it('after a failed roll the spare of the old generation exits, and a crash starts a worker of the new one from nothing; the next good roll brings one back', async () => {
    const keeper = await startKeeper()
    const { match } = await keeper.fixture.waitFor(/spare ready \(pid (\d+)\)/)
    const spare = Number(match[1])
    keeper.behave('fail')
    let from = keeper.fixture.lines.length
    process.kill(keeper.pid, 'SIGHUP')
    await keeper.fixture.waitFor(/ERR_RELOAD_ROLL_FAILED/, { from })
    await keeper.fixture.gone(spare)
    const [serving] = workers(keeper.fixture).filter((w) => w.generation === 1).map((w) => w.pid) as [number]
    expect((await get(keeper.url)).pid).toBe(serving)
    keeper.behave('ok')
    from = keeper.fixture.lines.length
    process.kill(serving, 'SIGKILL')
    const { match: again } = await keeper.fixture.waitFor(/worker 1 serves again \(worker=(\d+) generation=2\)/, { from })
    expect(keeper.fixture.lines.slice(from).map((l) => l.text).join('\n')).not.toMatch(/from the spare/)
    expect((await get(keeper.url)).pid).toBe(Number(again[1]))
    from = keeper.fixture.lines.length
    process.kill(keeper.pid, 'SIGHUP')
    await keeper.fixture.waitFor(/generation 3 serves/, { from })
    await keeper.fixture.waitFor(/spare ready \(pid \d+\).*generation=3\)/, { from })
  })

  it('a spare killed while it waits is started again, and one that keeps dying is given up on with a warning; workers serve on', async () => {
    const keeper = await startKeeper([], { command: [process.execPath, spareApp] })
    const [worker] = workers(keeper.fixture).map((w) => w.pid) as [number]
    let from = 0
    for (let death = 1; death <= 3; death++) {
      const { match, index } = await keeper.fixture.waitFor(/spare ready \(pid (\d+)\)/, { from, timeout: 15_000 })
      const spare = Number(match[1])
      process.kill(spare, 'SIGKILL')
      const said = await keeper.fixture.waitFor(new RegExp(`the spare \\(pid ${spare}\\) exited with SIGKILL before it was used`), { from: index })
      from = said.index
    }
    expect(keeper.fixture.lines[from]?.text).toMatch(/3 did in a row: starting no more/)
    expect((await get(keeper.url)).pid).toBe(worker)
    expect((await status(keeper.control)).spare).toBeNull()
  })

  it('a spare killed while it boots, before it waits, counts as one that died: the next one comes once the boot is possible again', async () => {
    const { keeper, gateFile, worker } = await gatedKeeper('slow')
    let booting = 0
    await until(() => { booting = childrenOf(keeper.pid).find((pid) => pid !== worker) ?? 0; return booting !== 0 }, 'a spare started')
    expect((await status(keeper.control)).spare).toMatchObject({ pid: booting, holding: false })
    process.kill(booting, 'SIGKILL')
    const { index } = await keeper.fixture.waitFor(new RegExp(`the spare \\(pid ${booting}\\) exited with SIGKILL before it was used`))
    writeFileSync(gateFile, '')
    const { match } = await keeper.fixture.waitFor(/spare ready \(pid (\d+)\)/, { from: index })
    expect(Number(match[1])).not.toBe(booting)
    expect(keeper.fixture.output).not.toMatch(/did not wait for its turn/)
  })

  it('a spare that runs the app without waiting is stopped, and drains what it took: 0 failed under load, and no more spares', async () => {
    const { keeper, worker } = await gatedKeeper('leave')
    const load = new Load(keeper.url, { connections: 8 }).start()
    const { match } = await keeper.fixture.waitFor(/the spare \(pid (\d+)\) did not wait for its turn: stopping it, and starting no more/)
    const stray = Number(match[1])
    await keeper.fixture.gone(stray)
    const after = load.outcomes.length
    await load.until((o) => o.length >= after + 100, '100 responses after the stray spare is gone')
    await load.stop()
    expect(load.failures).toEqual([])
    expect(load.outcomes.every((o) => o.pid === worker || o.pid === stray)).toBe(true)
    expect((await status(keeper.control)).spare).toBeNull()
    // A crash still starts a worker, from nothing.
    const from = keeper.fixture.lines.length
    process.kill(worker, 'SIGKILL')
    const { match: again } = await keeper.fixture.waitFor(/worker 1 serves again \(worker=(\d+)/, { from })
    expect((await get(keeper.url)).pid).toBe(Number(again[1]))
    expect(keeper.fixture.lines.slice(from).map((l) => l.text).join('\n')).not.toMatch(/from the spare|spare ready/)
  })

  it('--no-spare keeps none, and neither does an app that runs without the preload: a crash starts a fresh worker', async () => {
    for (const [flags, command] of [
      [['--no-spare'], [process.execPath, spareApp]],
      // NODE_OPTIONS emptied: no preload in the worker; its own @reload/core says LIVENESS=1 but not HOLDS=1.
      [[], ['env', 'NODE_OPTIONS=', process.execPath, examplesHttp]]
    ] as Array<[string[], string[]]>) {
      const keeper = await startKeeper(flags, { command })
      const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
      process.kill(first, 'SIGKILL')
      const { match } = await keeper.fixture.waitFor(/worker 1 serves again \(worker=(\d+)/)
      const next = Number(match[1])
      // Past the moment a spare would have started after the restart (300 ms): a roll, and the status after it.
      const from = keeper.fixture.lines.length
      process.kill(keeper.pid, 'SIGHUP')
      await keeper.fixture.waitFor(/generation 2 serves/, { from })
      const [rolled] = workers(keeper.fixture).filter((w) => w.generation === 2).map((w) => w.pid) as [number]
      await keeper.fixture.gone(next)
      expect((await get(keeper.url)).pid).toBe(rolled)
      expect(keeper.fixture.output).not.toMatch(/spare ready|from the spare/)
      expect((await status(keeper.control)).spare).toBeNull()
      expect(childrenOf(keeper.pid)).toEqual([rolled])
      await closeAll()
    }
  })
})
