import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, Fixture, get, isAlive, Load, logArrivals, root, tempDir } from '@reload/test-helpers'
import { answeredBy, cli, plainApp, reloadBin, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

/** Waits until the keeper logs that `generation` serves; returns the worker pids it names. */
async function serves (fixture: Fixture, generation: number, timeout = 20_000): Promise<number[]> {
  const { match } = await fixture.waitFor(new RegExp(`generation ${generation} serves \\(generation=${generation} ms=\\d+ workers=([\\d,]+)\\)`), { timeout })
  return (match[1] as string).split(',').map(Number)
}

describe('reload run: rolling reloads', () => {
  it('keeps one keeper pid across 20 reloads under keep-alive load, with 0 failed requests', async () => {
    const pidFile = join(tempDir(), 'keeper.pid')
    const keeper = await startKeeper(['--pid-file', pidFile])
    try {
      const load = new Load(keeper.url, { connections: 6, slowEvery: 4, slow: 0.1 }).start()
      await load.until((o) => o.length >= 20, '20 responses')
      for (let generation = 2; generation <= 21; generation++) {
        keeper.fixture.signal('SIGHUP', keeper.pid)
        const [pid] = await serves(keeper.fixture, generation)
        await load.servedBy(pid as number, 3)
        expect(isAlive(keeper.pid)).toBe(true)
        expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(keeper.pid))
      }
      const outcomes = await load.stop()
      const answered = new Set(outcomes.map((o) => o.pid))
      expect(load.failures).toEqual([])
      expect(outcomes.length).toBeGreaterThan(200)
      // Every generation answered: 21 workers, none of them the keeper.
      expect(answered.size).toBeGreaterThanOrEqual(21)
      expect(answered.has(keeper.pid)).toBe(false)
      expect(workers(keeper.fixture).map((w) => w.generation)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1))
    } finally {
      keeper.fixture.signal('SIGTERM', keeper.pid)
      await keeper.fixture.exited(20_000)
    }
  })

  it('--workers 2 serves from two pids and rolls both over, one at a time: 0 failed', async () => {
    const keeper = await startKeeper(['--workers', '2'])
    const first = workers(keeper.fixture).map((w) => w.pid)
    expect(first).toHaveLength(2)
    await answeredBy(keeper.url, first)
    const load = new Load(keeper.url, { connections: 8 }).start()
    await load.until((o) => o.length >= 20, '20 responses')
    const roll = await cli(['reload', '--wait', '--control', keeper.control])
    expect(roll.stderr).toBe('')
    expect(roll.code).toBe(0)
    const next = await serves(keeper.fixture, 2)
    expect(roll.stdout).toContain(`generation 2 serves (pids ${next.join(', ')})`)
    expect(next).toHaveLength(2)
    await answeredBy(keeper.url, next)
    for (const pid of first) await keeper.fixture.gone(pid)
    // One at a time: worker 2's replacement started only once worker 1's was ready (both keeper lines).
    const text = keeper.fixture.output
    const readyOfFirst = text.indexOf(`worker 1 ready; pid ${first[0]} drains (worker=${next[0]} generation=2)`)
    const startOfSecond = text.indexOf(`starting worker 2 (worker=${next[1]} generation=2)`)
    expect(readyOfFirst).toBeGreaterThan(-1)
    expect(startOfSecond).toBeGreaterThan(readyOfFirst)
    await load.stop()
    expect(load.failures).toEqual([])
  })

  it('a replacement that fails to start stops the roll: the old workers serve on, the reason is coded, a later reload retries', async () => {
    const keeper = await startKeeper(['--workers', '2'])
    const first = workers(keeper.fixture).map((w) => w.pid)
    await answeredBy(keeper.url, first)
    const load = new Load(keeper.url, { connections: 6 }).start()
    await load.until((o) => o.length >= 20, '20 responses')
    keeper.behave('fail')
    const failed = await cli(['reload', '--wait', '--control', keeper.control])
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/reload failed at worker 1 of 2 \(ERR_RELOAD_CHILD_EXITED\).*keep serving the previous code.*\(ERR_RELOAD_ROLL_FAILED\)/)
    await keeper.fixture.waitFor(/error: reload failed at worker 1 of 2/)
    const during = load.outcomes.length
    await load.until((o) => o.length >= during + 50, '50 more responses')
    for (const o of load.outcomes.slice(during)) expect(first).toContain(o.pid)
    // The workers the roll did not replace are the ones that were there: none was stopped.
    for (const pid of first) expect(isAlive(pid)).toBe(true)
    const status = await cli(['status', '--control', keeper.control])
    expect(status.stdout).toMatch(/last reload: FAILED/)
    keeper.behave('ok')
    keeper.fixture.signal('SIGHUP', keeper.pid)
    const next = await serves(keeper.fixture, 3)
    await answeredBy(keeper.url, next)
    await load.stop()
    expect(load.failures).toEqual([])
  })

  it('a replacement that never gets ready is stopped after --ready-timeout; the old worker serves on', async () => {
    // It is the first worker's too: long enough for a cold start while seven other test files load both
    // cores (1.5 s was not, on CI).
    const keeper = await startKeeper(['--ready-timeout', '5s'])
    const [first] = workers(keeper.fixture).map((w) => w.pid)
    keeper.behave('hang')
    const failed = await cli(['reload', '--wait', '--control', keeper.control])
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/ERR_RELOAD_READY_TIMEOUT.*\(ERR_RELOAD_ROLL_FAILED\)/)
    const hung = workers(keeper.fixture).at(-1)?.pid as number
    await keeper.fixture.gone(hung)
    expect((await get(keeper.url)).pid).toBe(first)
  })

  it('SIGHUPs in a burst to the keeper\'s process group (a terminal hangup) make at most two rolls, and 0 failed', async () => {
    // The keeper leads its own group here, as in a terminal; its workers run in their own sessions.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RELOAD|LISTEN)_/.test(name)))
    // Each worker listens 1.5 s after it starts: the whole burst lands while the first roll runs, however
    // quick the roll and however slowly the signals are paced on a busy machine.
    const behaviour = join(tempDir(), 'behaviour')
    writeFileSync(behaviour, 'slow')
    const child = spawn(process.execPath, [reloadBin, 'run', '--listen', '127.0.0.1:0', '--', process.execPath, '--import', logArrivals, plainApp],
      { cwd: root, env: { ...env, HOST: '127.0.0.1', PORT: '0', BEHAVIOUR_FILE: behaviour }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const fixture = new Fixture(child)
    try {
      const { match } = await fixture.waitFor(/ready on 127\.0\.0\.1:(\d+)/)
      const load = new Load(`http://127.0.0.1:${match[1] as string}`, { connections: 6 }).start()
      await load.until((o) => o.length >= 20, '20 responses')
      let heard = 0
      for (let i = 0; i < 10; i++) {
        process.kill(-(child.pid as number), 'SIGHUP')
        // Each one is handled before the next, so none merges with another in the kernel.
        heard = (await fixture.waitFor(/SIGHUP received/, { from: heard })).index + 1
      }
      const [last] = await serves(fixture, 3)
      await load.servedBy(last as number, 5)
      expect(fixture.output).not.toMatch(/rolling .* to generation 4/)
      // A start that the group's SIGHUP killed before it ran is started again: same generation.
      expect(new Set(workers(fixture).map((w) => w.generation))).toEqual(new Set([1, 2, 3]))
      await load.stop()
      expect(load.failures).toEqual([])
    } finally {
      await fixture.close()
    }
  })

  it('the seed\'s demo: a slow request finishes on the old worker while new requests get the new one', async () => {
    const keeper = await startKeeper()
    const [old] = workers(keeper.fixture).map((w) => w.pid)
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=1.5`)
    expect(slow.pid).toBe(old)
    keeper.fixture.signal('SIGHUP', keeper.pid)
    const [next] = await serves(keeper.fixture, 2)
    const fresh = await get(keeper.url)
    expect(fresh.pid).toBe(next)
    const done = await slow.response
    expect(done.status).toBe(200)
    expect(done.pid).toBe(old)
    await keeper.fixture.gone(old as number)
  })
})
