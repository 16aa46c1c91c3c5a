import { spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, Load, until, which } from '@reload/test-helpers'
import { answeredBy, cli, reloadBin, startKeeper, status, workers } from './helpers.js'

afterEach(closeAll)

describe('reload status: what an operator asks first', () => {
  it('per worker: memory, heap, CPU, requests served, in flight; per slot: restarts and the last reason; the last rolls with duration and result', async () => {
    const keeper = await startKeeper(['--workers', '2'])
    const load = new Load(keeper.url, { connections: 4 }).start()
    const [first, second] = workers(keeper.fixture).map((w) => w.pid) as [number, number]
    await answeredBy(keeper.url, [first, second])

    // A roll that works, then one that fails.
    expect((await cli(['reload', '--wait', '--control', keeper.control])).code).toBe(0)
    keeper.behave('fail')
    expect((await cli(['reload', '--wait', '--control', keeper.control])).code).toBe(1)
    keeper.behave('ok')
    // A crash of the worker in slot 1.
    const slot1 = (await status(keeper.control)).workers.find((w: { slot: number }) => w.slot === 1)
    const from = keeper.fixture.lines.length
    process.kill(slot1.pid, 'SIGKILL')
    await keeper.fixture.waitFor(/worker 1 serves again/, { from })
    await load.until((o) => o.length > 200, '200 responses')
    // Keep-alive clients stay where the kernel put them: new connections reach both workers.
    const serving = (await status(keeper.control)).workers.map((w: { pid: number }) => w.pid)
    await answeredBy(keeper.url, serving)

    const s = await status(keeper.control)
    await load.stop()
    // The SIGKILLed worker's keep-alive connections: at most one failure each, none refused.
    expect(load.failures.length).toBeLessThanOrEqual(4)
    expect(load.failures.filter((o) => o.error === 'ECONNREFUSED')).toEqual([])
    expect(s.workers).toHaveLength(2)
    for (const w of s.workers) {
      expect(w.state).toBe('ready')
      expect(w.rss).toBeGreaterThan(10 * 1024 * 1024)
      expect(w.heap).toBeGreaterThan(1024 * 1024)
      expect(w.heap).toBeLessThan(w.rss)
      expect(w.cpu).toBeGreaterThan(0)
      expect(typeof w.cpuPercent).toBe('number')
      expect(w.served).toBeGreaterThan(0)
      expect(w.requests).toBeGreaterThanOrEqual(0)
    }
    const w1 = s.workers.find((w: { slot: number }) => w.slot === 1)
    const w2 = s.workers.find((w: { slot: number }) => w.slot === 2)
    // Slot 1: the roll, then the crash; slot 2: the roll (the failed one stopped at slot 1).
    expect(w1.restarts).toBe(2)
    expect(w1.lastRestart).toMatchObject({ reason: 'crash' })
    expect(w1.lastRestart.detail).toMatch(/^exited with SIGKILL after [\d.]+ s$/)
    expect(w2.restarts).toBe(1)
    expect(w2.lastRestart).toMatchObject({ reason: 'roll', detail: 'generation 2' })
    expect(s.rolls).toHaveLength(2)
    expect(s.rolls[0]).toMatchObject({ ok: false, generation: 3, code: 'ERR_RELOAD_CHILD_EXITED' })
    expect(s.rolls[1]).toMatchObject({ ok: true, generation: 2 })
    expect(s.rolls[1].ms).toBeGreaterThan(0)
    expect(s.waiting).toEqual([])

    const text = await cli(['status', '--control', keeper.control])
    expect(text.stdout).toMatch(/worker 1: pid \d+, generation \d+, ready, up \d+s, \d+ requests in flight, \d+ connections, \d+ MB resident \(heap \d+ MB\), CPU [\d.]+% \([\d.]+ s\), \d+ served, \d+ connections handed, 2 restarts \(last: crash, exited with SIGKILL after [\d.]+ s, \d+s ago\)/)
    expect(text.stdout).toMatch(/last reload: FAILED in \d+ ms, \d+s ago: reload failed at worker 1 of 2 \(ERR_RELOAD_CHILD_EXITED\)/)
    expect(text.stdout).toMatch(/earlier reload: done, generation 2, \d+ ms, \d+s ago/)
  })

  it('a slot that backs off has a line of its own, with the time to its next try', async () => {
    const keeper = await startKeeper()
    keeper.behave('crash')
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    process.kill(first, 'SIGKILL')
    await keeper.fixture.waitFor(/crash-looping: 4 exits in a row/, { timeout: 20_000 })
    // Between tries the slot has no worker, and says when it tries again: most of a crash loop's time.
    const deadline = Date.now() + 15_000
    let s = await status(keeper.control)
    while (s.waiting[0]?.state !== 'backoff' && Date.now() < deadline) s = await status(keeper.control)
    expect(s.waiting).toHaveLength(1)
    expect(s.waiting[0]).toMatchObject({ slot: 1, state: 'backoff' })
    expect(s.waiting[0].nextTryIn).toBeGreaterThanOrEqual(0)
    expect(s.waiting[0].nextTryIn).toBeLessThanOrEqual(10_000)
    expect(s.waiting[0].restarts).toBeGreaterThanOrEqual(3)
    expect(s.waiting[0].lastRestart).toMatchObject({ reason: 'crash' })
    // The slot moves on meanwhile (starting, up for a moment, crashing again): ask until a text one is
    // taken while it backs off, as above.
    const again = Date.now() + 15_000
    let text = await cli(['status', '--control', keeper.control])
    while (!/worker 1: backing off/.test(text.stdout) && Date.now() < again) text = await cli(['status', '--control', keeper.control])
    expect(text.stdout).toMatch(/worker 1: (backing off, next try in [\d.]+ s|starting), \d+ restarts \(last: crash, exited with code 1 after/)
  })

  it('--watch into a pipe prints plain blocks, one per refresh, and stops on SIGINT with 0', async () => {
    const keeper = await startKeeper()
    const child = spawn(process.execPath, [reloadBin, 'status', '--watch', '--interval', '200ms', '--control', keeper.control], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    try {
      await until(() => (out.match(/^keeper pid /gm) ?? []).length >= 3, () => `3 blocks from status --watch; got:\n${out}`, { timeout: 10_000 })
      child.kill('SIGINT')
      expect(await exited).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
    // No escape sequences into a pipe; each block starts with a time.
    expect(out.includes('\u001b[')).toBe(false)
    expect(out).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\nkeeper pid \d+/m)
  })

  it('--watch on a terminal redraws in place (a pty made by script(1))', async () => {
    const keeper = await startKeeper()
    const command = [process.execPath, reloadBin, 'status', '--watch', '--interval', '200ms', '--control', keeper.control].map((a) => `'${a}'`).join(' ')
    const child = spawn(which('script') as string, ['-qfec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    try {
      await until(() => (out.match(/keeper pid /g) ?? []).length >= 3, () => `3 screens from status --watch; got:\n${JSON.stringify(out)}`, { timeout: 10_000 })
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    // Each screen starts at the top left and clears what a longer one left; no timestamps as in a pipe.
    expect(out.split('\u001b[Hkeeper pid ').length - 1).toBeGreaterThanOrEqual(3)
    expect(out).toContain('\u001b[J')
    expect(out).not.toMatch(/^\d{4}-\d\d-\d\dT/m)
  })
})
