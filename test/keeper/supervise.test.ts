import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, isAlive, Load, request, root, until } from '@reload/test-helpers'
import { cli, startKeeper, status, workers } from './helpers.js'

afterEach(closeAll)

const faultyApp = join(root, 'test/keeper/fixtures/faulty-app.js')

function refused (load: Load): number {
  return load.outcomes.filter((o) => o.error === 'ECONNREFUSED').length
}

/** The keeper's soft fd limit, to put back: only the soft one moves, so no privilege is needed to raise it again. */
function nofile (pid: number): string {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
  return m?.[1] ?? '1024'
}

function setNofile (pid: number, soft: string | number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`])
}

/**
 * A limit no fd the keeper closes can make room under: the number of its first socket (the socket it listens
 * on, made before any other of its own). A new fd takes the lowest free number, and those below that one are
 * Node's own (stdio, its event loop's), open for the process's life. A limit made from the count of fds open
 * at one moment let the control socket accept once in CI: fds the keeper had open then closed since.
 */
function firstSocket (pid: number): number {
  const sockets = readdirSync(`/proc/${pid}/fd`).map(Number).filter((fd) => {
    try { return fd > 2 && readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:') } catch { return false }
  })
  return Math.min(...sockets)
}

describe('reload run: supervision', () => {
  for (const fault of ['busy loop', 'SIGSTOP'] as const) {
    it(`a worker stuck by a ${fault} under --workers 1 is replaced within the liveness timeout plus a start: 0 refused, only its own requests fail`, async () => {
      // 3 s: with the rest of the suite on two cores (load average 17), a healthy worker serving this load went
      // more than 1 s without answering a ping, and was replaced before the fault (CI: 16 failed, none served by it).
      const keeper = await startKeeper(['--liveness-timeout', '3s'], { app: faultyApp })
      const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
      const connections = 8
      const load = new Load(keeper.url, { connections, slowEvery: 1_000_000 }).start()
      await load.servedBy(first, 50)
      const stuckAt = Date.now()
      const hang = fault === 'busy loop' ? request(`${keeper.url}/hang`, { timeout: 20_000 }) : undefined
      if (fault === 'SIGSTOP') process.kill(first, 'SIGSTOP')
      await keeper.fixture.waitFor(new RegExp(`worker 1 \\(pid ${first}\\) is unresponsive: its event loop has not answered for [\\d.]+ s`), { timeout: 10_000 })
      const { match } = await keeper.fixture.waitFor(/worker 1 serves again; pid \d+ is killed \(worker=(\d+)/, { timeout: 15_000 })
      const next = Number(match[1])
      await load.servedBy(next, 1)
      const back = load.outcomes.find((o) => o.pid === next) as { start: number, ms: number }
      await load.servedBy(next, 50)
      const outcomes = await load.stop()
      await hang
      expect(refused(load)).toBe(0)
      // The keep-alive connections the stuck worker held: at most one failure each.
      expect(load.failures.length).toBeLessThanOrEqual(connections)
      expect(outcomes.filter((o) => o.pid === next).length).toBeGreaterThanOrEqual(50)
      // Liveness 3 s, four pings a second, then a start of about half a second: well within 10 s on a busy machine.
      expect(back.start + back.ms - stuckAt).toBeLessThan(10_000)
      await keeper.fixture.gone(first)
      // The keeper says so once it has reaped the stuck worker, which may come after the test saw the pid gone.
      await keeper.fixture.waitFor(new RegExp(`worker 1 \\(pid ${first}, generation 1\\) was killed as unresponsive`))
      const s = await status(keeper.control)
      expect(s.replaced).toEqual({ unresponsive: 1, memory: 0 })
      expect(s.lastReplaced).toMatchObject({ reason: 'unresponsive', pid: first, slot: 1 })
      expect(s.workers.map((w: { pid: number }) => w.pid)).toEqual([next])
      const text = await cli(['status', '--control', keeper.control])
      expect(text.stdout).toMatch(/1 unresponsive/)
    })
  }

  it('a worker past --max-memory is recycled gracefully (the new one ready, the old one drains): 0 failed requests', async () => {
    const keeper = await startKeeper(['--max-memory', '200M'], { app: faultyApp })
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const load = new Load(keeper.url, { connections: 8, slowEvery: 4, slow: 0.05 }).start()
    await load.servedBy(first, 30)
    expect((await request(`${keeper.url}/leak`)).pid).toBe(first)
    await keeper.fixture.waitFor(new RegExp(`worker 1 \\(pid ${first}\\) is over its memory cap: its resident memory \\d+ MB passed --max-memory 200 MB`), { timeout: 15_000 })
    const { match } = await keeper.fixture.waitFor(/worker 1 serves again; pid \d+ drains \(worker=(\d+)/, { timeout: 15_000 })
    const next = Number(match[1])
    await keeper.fixture.gone(first)
    await load.servedBy(next, 50)
    await load.stop()
    expect(load.failures).toEqual([])
    // The keeper says so once it has reaped the old worker, which may come after the test saw the pid gone.
    await keeper.fixture.waitFor(new RegExp(`worker 1 \\(pid ${first}, generation 1\\) drained and exited`))
    const s = await status(keeper.control)
    expect(s.replaced).toEqual({ unresponsive: 0, memory: 1 })
    expect(s.maxMemory).toBe(200 * 1024 * 1024)
    expect(s.workers[0].rss).toBeGreaterThan(0)
  })

  it('EMFILE during a roll: ERR_RELOAD_SPAWN_FAILED, the keeper lives and the old worker serves; once the limit is raised a roll works', async () => {
    const keeper = await startKeeper()
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const limits = nofile(keeper.pid)
    const load = new Load(keeper.url, { connections: 4 }).start()
    await load.servedBy(first, 20)
    setNofile(keeper.pid, firstSocket(keeper.pid))
    try {
      process.kill(keeper.pid, 'SIGHUP')
      await keeper.fixture.waitFor(/reload failed at worker 1 of 1 \(ERR_RELOAD_SPAWN_FAILED\): could not start the new generation \(spawn \/bin\/sh EMFILE\); this process is out of file descriptors/)
      const from = load.outcomes.length
      await load.until((o) => o.slice(from).filter((x) => x.pid === first).length >= 20, 'the old worker to serve on')
      // The control socket cannot accept either: the connection is dropped, and the keeper lives on.
      expect((await cli(['status', '--control', keeper.control])).code).not.toBe(0)
      expect(isAlive(keeper.pid)).toBe(true)
    } finally {
      setNofile(keeper.pid, limits)
    }
    expect((await cli(['status', '--control', keeper.control])).code).toBe(0)
    process.kill(keeper.pid, 'SIGHUP')
    const { match } = await keeper.fixture.waitFor(/generation (\d+) serves \(.*workers=(\d+)/)
    await load.servedBy(Number(match[2]), 20)
    await load.stop()
    expect(load.failures).toEqual([])
  })

  it('EMFILE during a crash restart: the keeper retries with its backoff, refuses nothing, and serves again once the limit is raised', async () => {
    const keeper = await startKeeper()
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const limits = nofile(keeper.pid)
    // The dead worker's link and pipes free fds, and the limit must still hold.
    setNofile(keeper.pid, firstSocket(keeper.pid))
    let waiting: Promise<Awaited<ReturnType<typeof request>>> | undefined
    try {
      process.kill(first, 'SIGKILL')
      await keeper.fixture.waitFor(/worker 1 did not start \(could not start the new generation \(spawn \/bin\/sh EMFILE\)/)
      const { index } = await keeper.fixture.waitFor(/worker 1 did not start .*next start in \d+ ms/)
      await keeper.fixture.waitFor(/worker 1 did not start .*next start in \d+ ms/, { from: index + 1 })
      expect(isAlive(keeper.pid)).toBe(true)
      // Nobody accepts now, but the socket listens: the connection waits in the backlog.
      waiting = request(keeper.url, { timeout: 20_000 })
    } finally {
      setNofile(keeper.pid, limits)
    }
    const { match } = await keeper.fixture.waitFor(/worker 1 serves again \(worker=(\d+)/, { timeout: 20_000 })
    const outcome = await waiting
    expect(outcome.error).toBeUndefined()
    expect(outcome.pid).toBe(Number(match[1]))
  })

  it("a worker's children go with it: nothing left after 2 rolls and a shutdown; a helper in its own session stays", async () => {
    const keeper = await startKeeper([], { app: faultyApp, env: { CHILDREN: '1', HELPER: '1' } })
    const children = (): number[] => keeper.fixture.lines.flatMap(({ text }) => [...text.matchAll(/child=(\d+)/g)].map((m) => Number(m[1])))
    const helpers = (): number[] => keeper.fixture.lines.flatMap(({ text }) => [...text.matchAll(/helper=(\d+)/g)].map((m) => Number(m[1])))
    await keeper.fixture.waitFor(/grandchildren of pid=/)
    const load = new Load(keeper.url, { connections: 4 }).start()
    for (let roll = 1; roll <= 2; roll++) {
      const before = children()
      const from = keeper.fixture.lines.length
      const { code, stderr } = await cli(['reload', '--wait', '--control', keeper.control])
      expect(code, stderr).toBe(0)
      await keeper.fixture.waitFor(/grandchildren of pid=/, { from })
      // Each old worker had a shell, a sleep and a node: all gone with it.
      expect(before.length).toBe(3 * roll)
      for (const pid of before) await keeper.fixture.gone(pid)
    }
    await load.stop()
    expect(load.failures).toEqual([])
    const all = children()
    expect(all.length).toBe(9)
    expect(all.filter(isAlive).length).toBe(3)
    process.kill(keeper.pid, 'SIGTERM')
    expect((await keeper.fixture.exited(20_000)).code).toBe(0)
    expect(all.filter(isAlive)).toEqual([])
    // Started in a session of its own on purpose: not the keeper's to end (the fixture ends them).
    expect(helpers().length).toBe(3)
    expect(helpers().filter(isAlive).length).toBe(3)
  })

  it('the exit status tells: a worker that cut a request at the drain timeout makes the keeper exit 1, and the log says so', async () => {
    const keeper = await startKeeper(['--drain-timeout', '300ms'], { app: faultyApp })
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=5`)
    process.kill(keeper.pid, 'SIGTERM')
    const { code } = await keeper.fixture.exited(15_000)
    expect(code).toBe(1)
    expect((await slow.response).error).toBeDefined()
    expect(keeper.fixture.output).toMatch(new RegExp(`worker 1 \\(pid ${slow.pid}, generation 1\\) cut 1 request at the drain timeout and exited`))
    expect(keeper.fixture.output).toMatch(/a worker did not drain cleanly at shutdown \(see above\): exit code 1/)
    expect(keeper.fixture.output).toMatch(/keeper exits \(code=1\)/)
  })

  it('an app whose own SIGTERM listener exits 143 (Next.js does) drains first: its listener runs once the drain is over, and the keeper exits 0', async () => {
    const keeper = await startKeeper([], { app: faultyApp, env: { ON_SIGTERM: 'exit' } })
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    await keeper.fixture.waitFor(/SIGTERM listeners replaced/)
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=2`)
    process.kill(keeper.pid, 'SIGTERM')
    const { code } = await keeper.fixture.exited(15_000)
    expect(code).toBe(0)
    expect((await slow.response).body).toBe(`ospid:${first}`)
    expect(keeper.fixture.output).toMatch(new RegExp(`reload\\[${first}\\]: the drain is over: running the app's own SIGTERM listeners`))
    expect(keeper.fixture.output).toMatch(new RegExp(`worker 1 \\(pid ${first}, generation 1\\) drained; the app's own SIGTERM listener exited with code 143`))
  })

  it('a worker that drained and then exits with another code than 0 or 143 is named, and the keeper exits 1', async () => {
    const keeper = await startKeeper([], { app: faultyApp, env: { ON_SIGTERM: 'exit', SIGTERM_EXIT_CODE: '3' } })
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    await keeper.fixture.waitFor(/SIGTERM listeners replaced/)
    process.kill(keeper.pid, 'SIGTERM')
    const { code } = await keeper.fixture.exited(15_000)
    expect(code).toBe(1)
    expect(keeper.fixture.output).toMatch(new RegExp(`worker 1 \\(pid ${first}, generation 1\\) drained and exited with code 3`))
  })

  it("a worker whose app dropped reload's SIGTERM listener still drains when rolled (the keeper says DRAIN on the link)", async () => {
    const keeper = await startKeeper([], { app: faultyApp, env: { ON_SIGTERM: 'drop' } })
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    await keeper.fixture.waitFor(/SIGTERM listeners replaced/)
    const load = new Load(keeper.url, { connections: 8 }).start()
    await load.servedBy(first, 20)
    const { code, stderr } = await cli(['reload', '--wait', '--control', keeper.control])
    expect(code, stderr).toBe(0)
    // Done means done: no new connection reaches the old code from here on.
    const after = await Promise.all(Array.from({ length: 20 }, async () => await request(keeper.url)))
    expect(after.filter((o) => o.pid === first)).toEqual([])
    await keeper.fixture.waitFor(new RegExp(`worker 1 \\(pid ${first}, generation 1\\) drained and exited`))
    await load.stop()
    expect(load.failures).toEqual([])
  })

  it('a roll kills an old worker that does not stop accepting within its budget before it reports the roll done', async () => {
    const keeper = await startKeeper(['--liveness-timeout', 'off'], { app: faultyApp })
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    process.kill(first, 'SIGSTOP')
    const { code, stderr } = await cli(['reload', '--wait', '--control', keeper.control])
    expect(code, stderr).toBe(0)
    expect(isAlive(first)).toBe(false)
    await keeper.fixture.waitFor(new RegExp(`worker 1 \\(pid ${first}, generation 1\\) was killed because it still accepted connections 2000 ms after it was told to drain`))
    await until(() => !isAlive(first), `pid ${first} to be gone`)
  })
})
