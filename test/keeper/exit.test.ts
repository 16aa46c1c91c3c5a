import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, getUnix, isAlive, Load, request, startProcess, tempDir } from '@reload/test-helpers'
import { answeredBy, cli, plainApp, reloadBin, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

describe('reload run: exit, status and control', () => {
  it('SIGTERM drains every worker under load, then the keeper exits 0 and leaves nothing behind', async () => {
    const dir = tempDir()
    const pidFile = join(dir, 'keeper.pid')
    const keeper = await startKeeper(['--workers', '2', '--pid-file', pidFile])
    const pids = workers(keeper.fixture).map((w) => w.pid)
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(keeper.pid))
    expect(existsSync(keeper.control)).toBe(true)
    await answeredBy(keeper.url, pids)
    const load = new Load(keeper.url, { connections: 4 }).start()
    await load.until((o) => o.length >= 20, '20 responses')
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=1`)
    keeper.fixture.signal('SIGTERM', keeper.pid)
    const { code } = await keeper.fixture.exited(20_000)
    await load.stop()
    expect(code).toBe(0)
    const done = await slow.response
    expect(done.status).toBe(200)
    // What the workers took finished; new connections after the drain began are refused once the last
    // worker stopped listening (or reset, when still in the accept queue at that moment).
    expect(load.failures.filter((o) => o.error !== 'ECONNREFUSED' && o.error !== 'ECONNRESET')).toEqual([])
    for (const pid of pids) expect(isAlive(pid)).toBe(false)
    expect(existsSync(pidFile)).toBe(false)
    expect(existsSync(keeper.control)).toBe(false)
    expect((await request(keeper.url)).error).toBe('ECONNREFUSED')
    expect(keeper.fixture.output).toMatch(/keeper exits \(code=0\)/)
  })

  it('a second SIGTERM cuts the drain: the keeper exits 1 at once, no worker left', async () => {
    const keeper = await startKeeper()
    const [pid] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=30`)
    keeper.fixture.signal('SIGTERM', keeper.pid)
    await keeper.fixture.waitFor(/SIGTERM: draining the worker/)
    await keeper.fixture.waitFor(new RegExp(`reload\\[${pid}\\]: draining`))
    keeper.fixture.signal('SIGTERM', keeper.pid)
    const { code } = await keeper.fixture.exited(10_000)
    expect(code).toBe(1)
    expect(isAlive(pid)).toBe(false)
    expect((await slow.response).error).toBeDefined()
  })

  it('listens on a unix socket and removes it at exit', async () => {
    const dir = tempDir()
    const path = join(dir, 'app.sock')
    const keeper = await startKeeper([`--listen=unix:${path}`], { env: { SOCKET_PATH: path }, ready: false })
    await keeper.fixture.waitFor(/ready on unix:/)
    expect(statSync(path).isSocket()).toBe(true)
    const [first] = workers(keeper.fixture).map((w) => w.pid)
    expect(await getUnix(path)).toBe(`ospid:${first}`)
    keeper.fixture.signal('SIGHUP', keeper.pid)
    const { match } = await keeper.fixture.waitFor(/generation 2 serves \(generation=2 ms=\d+ workers=(\d+)/)
    expect(await getUnix(path)).toBe(`ospid:${match[1] as string}`)
    keeper.fixture.signal('SIGTERM', keeper.pid)
    expect((await keeper.fixture.exited()).code).toBe(0)
    expect(existsSync(path)).toBe(false)
  })

  it('reload status shows the keeper, each worker with its pid, generation and requests in flight', async () => {
    const keeper = await startKeeper(['--workers', '2'])
    const pids = workers(keeper.fixture).map((w) => w.pid)
    // Held until both status calls are made: with both cores busy, starting the cli took longer than 2 s.
    const release = join(tempDir(), 'release')
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?until=${encodeURIComponent(release)}`)
    const text = await cli(['status', '--control', keeper.control])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(new RegExp(`^keeper pid ${keeper.pid}, up \\d+s, generation 1, 0 restarts, listening on 127\\.0\\.0\\.1:${keeper.port}`))
    for (const pid of pids) expect(text.stdout).toMatch(new RegExp(`worker \\d: pid ${pid}, generation 1, ready, up \\d+s, ${pid === slow.pid ? 1 : 0} requests in flight`))
    const json = JSON.parse((await cli(['status', '--json', '--control', keeper.control])).stdout) as { pid: number, workers: Array<{ pid: number, requests: number }> }
    expect(json.pid).toBe(keeper.pid)
    expect(json.workers.map((w) => w.pid).sort()).toEqual([...pids].sort())
    expect(json.workers.map((w) => w.requests).sort()).toEqual([0, 1])
    writeFileSync(release, '')
    expect((await slow.response).body).toBe(`ospid:${slow.pid}`)
  })

  it('finds the only keeper of the user by its control folder; refuses a folder others can open; says when none runs', async () => {
    const runtime = tempDir()
    // A TMPDIR of its own too: the keepers of other test files run meanwhile, and $TMPDIR/reload-UID is looked in as well.
    const env = { XDG_RUNTIME_DIR: runtime, TMPDIR: tempDir() }
    const none = await cli(['status'], { env })
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/no keeper of this user is running .*\(ERR_RELOAD_NO_KEEPER\)/)
    const own = await startKeeperDefault(env)
    expect(readdirSync(join(runtime, 'reload'))).toEqual([`${own}.sock`])
    expect(statSync(join(runtime, 'reload')).mode & 0o777).toBe(0o700)
    const status = await cli(['status'], { env })
    expect(status.stdout).toContain(`keeper pid ${own},`)
    const roll = await cli(['reload', '--wait', '--pid', String(own)], { env })
    expect(roll.code).toBe(0)
    const open = tempDir()
    mkdirSync(join(open, 'reload'), { mode: 0o777 })
    // The same TMPDIR of its own: in the shared one, the keeper of another test file may be the only one.
    const refused = await cli(['status'], { env: { ...env, XDG_RUNTIME_DIR: open } })
    expect(refused.stderr).toMatch(/no one else can open \(mode 700\).*\(ERR_RELOAD_CONTROL\)/)
  })
})

async function startKeeperDefault (env: Record<string, string>): Promise<number> {
  const fixture = startProcess(reloadBin, { args: ['run', '--listen', '127.0.0.1:0', '--', process.execPath, plainApp], env: { HOST: '127.0.0.1', PORT: '0', ...env } })
  await fixture.waitFor(/ready on 127\.0\.0\.1:/)
  return fixture.child.pid as number
}
