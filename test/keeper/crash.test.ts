import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, isAlive, Load, request } from '@reload/test-helpers'
import { startKeeper, workers } from './helpers.js'

afterEach(closeAll)

describe('reload run: crashes', () => {
  it('a worker SIGKILLed under keep-alive load is replaced with 0 refused connections; only what it had in flight fails', async () => {
    const keeper = await startKeeper()
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const connections = 8
    const load = new Load(keeper.url, { connections, slowEvery: 3, slow: 0.1 }).start()
    await load.servedBy(first, 30)
    const before = load.outcomes.length
    process.kill(first, 'SIGKILL')
    const { match } = await keeper.fixture.waitFor(/worker 1 serves again \(worker=(\d+)/)
    const next = Number(match[1])
    await load.servedBy(next, 30)
    const outcomes = await load.stop()
    const after = outcomes.slice(before)
    const refused = after.filter((o) => o.error === 'ECONNREFUSED')
    expect(refused).toEqual([])
    // The dead worker's sockets are gone with it: at most one failure per connection of the load.
    expect(load.failures.length).toBeLessThanOrEqual(connections)
    expect(keeper.fixture.output).toMatch(new RegExp(`worker 1 \\(pid ${first}\\) exited with SIGKILL after [\\d.]+ s; starting it again`))
    expect(isAlive(keeper.pid)).toBe(true)
  })

  it('a connection made while no worker is alive waits in the backlog and is answered by the replacement', async () => {
    const keeper = await startKeeper()
    keeper.behave('fail')
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    process.kill(first, 'SIGKILL')
    // The replacement fails at start: the loop is on, and nobody accepts for a while.
    await keeper.fixture.waitFor(/worker 1 did not start/)
    const waiting = request(`${keeper.url}/`, { timeout: 20_000 })
    keeper.behave('ok')
    const outcome = await waiting
    expect(outcome.error).toBeUndefined()
    expect(outcome.status).toBe(200)
    expect(outcome.pid).not.toBe(first)
  })

  it('a crash loop backs off (0, 250, 500, 1000 ms …), says so loudly, and keeps the sockets open; a fixed app serves again', async () => {
    const keeper = await startKeeper()
    keeper.behave('crash')
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    process.kill(first, 'SIGKILL')
    const { index } = await keeper.fixture.waitFor(/crash-looping: 4 exits in a row/, { timeout: 20_000 })
    const waits = keeper.fixture.lines.slice(0, index + 1).flatMap(({ text }) => {
      const m = /worker 1 .*(?:starting it again(?: in (\d+) ms)?|next start in (\d+) ms)/.exec(text)
      return m === null ? [] : [Number(m[1] ?? m[2] ?? 0)]
    })
    expect(waits.slice(0, 4)).toEqual([0, 250, 500, 1000])
    expect(keeper.fixture.output).toMatch(/listeners stay open and connections wait in the backlog/)
    // No connection is refused meanwhile: the keeper's socket listens whether a worker is up or not.
    const probe = await request(`${keeper.url}/?sleep=0`, { timeout: 300 })
    expect(probe.error).not.toBe('ECONNREFUSED')
    const from = keeper.fixture.lines.length
    keeper.behave('ok')
    // Crashing workers are ready for 100 ms too: the one that serves on is one started after the fix.
    const { index: start } = await keeper.fixture.waitFor(/starting worker 1 \(worker=\d+/, { from, timeout: 20_000 })
    const { match } = await keeper.fixture.waitFor(/worker 1 serves again \(worker=(\d+)/, { from: start, timeout: 20_000 })
    expect((await get(keeper.url)).pid).toBe(Number(match[1]))
  })

  it('a worker that someone else sends SIGTERM is replaced while it drains what it took', async () => {
    const keeper = await startKeeper()
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=1`)
    process.kill(first, 'SIGTERM')
    const { match } = await keeper.fixture.waitFor(/worker 1 serves again \(worker=(\d+)/)
    expect((await get(keeper.url)).pid).toBe(Number(match[1]))
    const done = await slow.response
    expect(done.status).toBe(200)
    expect(done.pid).toBe(first)
    expect(keeper.fixture.output).toMatch(/is stopping on its own/)
  })

  it('workers drain and exit when their keeper is SIGKILLed, so a new keeper can bind the port', async () => {
    const keeper = await startKeeper(['--workers', '2'])
    const pids = workers(keeper.fixture).map((w) => w.pid)
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=0.5`)
    process.kill(keeper.pid, 'SIGKILL')
    for (const pid of pids) await keeper.fixture.gone(pid)
    const done = await slow.response
    expect(done.status).toBe(200)
    const again = await startKeeper([`--listen=127.0.0.1:${keeper.port}`])
    expect(again.port).toBe(keeper.port)
  })
})
