// What an operator (or another local user) can do to a keeper from outside: signals, a second keeper on the
// same pid file, a stopped keeper, a flood of control connections, a control folder made by someone else.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, isAlive, Load, requires, startProcess, tempDir, until, which } from '@reload/test-helpers'
import { cli, plainApp, reloadBin, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

const NOBODY = 65534

/** `reload <args>` as another user (the test runs as root). */
/**
 * Runs `reload <args>` as root without the capability to override file permissions, so a folder's mode
 * binds it as it binds any user; the checkout itself may be private to root (a CI clone in a 700 folder).
 */
function cliWithoutDacOverride (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stderr: string }> {
  return new Promise((resolve) => {
    const caps = '-dac_override,-dac_read_search'
    const child = spawn(which('setpriv') as string, [`--bounding-set=${caps}`, `--inh-caps=${caps}`, '--', process.execPath, reloadBin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }) })
  })
}

/** Sockets of `pid` that listen on port 9229, Node's inspector port (read from /proc, not by connecting). */
function inspectorSockets (pid: number): string[] {
  const inodes = new Set<string>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields[1]?.endsWith(':240D') === true && fields[3] === '0A') inodes.add(fields[9] as string)
    }
  }
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    let link = ''
    try { link = readlinkSync(`/proc/${pid}/fd/${fd}`) } catch {}
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
    return inode !== undefined && inodes.has(inode) ? [link] : []
  })
}

/** Starts `reload run` with no --control, so it finds its own control folder; resolves with its pid. */
async function keeperWithoutControl (env: Record<string, string>): Promise<{ pid: number, fixture: ReturnType<typeof startProcess> }> {
  const fixture = startProcess(reloadBin, { args: ['run', '--listen', '127.0.0.1:0', '--', process.execPath, plainApp], env: { HOST: '127.0.0.1', PORT: '0', ...env } })
  await fixture.waitFor(/ready on 127\.0\.0\.1:/)
  return { pid: fixture.child.pid as number, fixture }
}

describe('reload run: signals', () => {
  it('SIGUSR1 and SIGALRM are logged and ignored (no inspector opens), SIGUSR2 rolls; 0 failed requests under load', async () => {
    const keeper = await startKeeper()
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const load = new Load(keeper.url, { connections: 4 }).start()
    await load.servedBy(first, 10)
    keeper.fixture.signal('SIGUSR1', keeper.pid)
    await keeper.fixture.waitFor(/warn: SIGUSR1 ignored: it means nothing to the keeper/)
    keeper.fixture.signal('SIGALRM', keeper.pid)
    await keeper.fixture.waitFor(/warn: SIGALRM ignored/)
    // A status round trip: the keeper has handled what came before it.
    expect((await cli(['status', '--control', keeper.control])).code).toBe(0)
    expect(inspectorSockets(keeper.pid)).toEqual([])
    expect(keeper.fixture.output).not.toMatch(/Debugger listening/)
    const served = load.outcomes.length
    await load.until((o) => o.length >= served + 20, '20 more responses')
    keeper.fixture.signal('SIGUSR2', keeper.pid)
    await keeper.fixture.waitFor(/SIGUSR2 received/)
    const { match } = await keeper.fixture.waitFor(/generation 2 serves \(generation=2 ms=\d+ workers=(\d+)\)/)
    const next = Number(match[1])
    expect(next).not.toBe(first)
    await load.servedBy(next, 10)
    await load.stop()
    expect(load.failures).toEqual([])
    expect(isAlive(keeper.pid)).toBe(true)
  })

  it('SIGQUIT drains under load as SIGTERM does: what was taken finishes, the keeper exits 0', async () => {
    const keeper = await startKeeper()
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const load = new Load(keeper.url, { connections: 4 }).start()
    await load.servedBy(first, 10)
    const slow = await keeper.fixture.inFlight(`${keeper.url}/?sleep=1`)
    keeper.fixture.signal('SIGQUIT', keeper.pid)
    const { code } = await keeper.fixture.exited(20_000)
    await load.stop()
    expect(code).toBe(0)
    expect((await slow.response).status).toBe(200)
    // New connections after the drain began are refused once the last worker stopped listening.
    expect(load.failures.filter((o) => o.error !== 'ECONNREFUSED' && o.error !== 'ECONNRESET')).toEqual([])
    expect(keeper.fixture.output).toMatch(/SIGQUIT: draining the worker/)
    expect(keeper.fixture.output).toMatch(/keeper exits \(code=0\)/)
    expect(isAlive(first)).toBe(false)
  })
})

describe('reload run: the pid file', () => {
  it('a second keeper on the same pid file fails at start and leaves the file to the first, which serves on', async () => {
    const dir = tempDir()
    const pidFile = join(dir, 'keeper.pid')
    const first = await startKeeper(['--pid-file', pidFile])
    expect(readFileSync(pidFile, 'utf8')).toBe(`${first.pid}\n`)
    const second = await startKeeper(['--pid-file', pidFile], { ready: false })
    expect((await second.fixture.exited()).code).toBe(1)
    expect(second.fixture.output).toMatch(new RegExp(`the pid file ${pidFile} belongs to pid ${first.pid}, which still runs \\(.*reload.*\\): stop that one first, or choose another pid file \\(ERR_RELOAD_PID_FILE\\)`))
    expect(second.fixture.output).not.toMatch(/starting worker/)
    expect(existsSync(second.control)).toBe(false)
    // One that fails before it gets to the pid file (the port is taken) does not touch it either.
    const taken = await cli(['run', '--listen', `127.0.0.1:${first.port}`, '--pid-file', pidFile, '--', process.execPath, plainApp])
    expect(taken.code).toBe(1)
    expect(taken.stderr).toMatch(/EADDRINUSE/)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${first.pid}\n`)
    expect(readdirSync(dir)).toEqual(['keeper.pid'])
    expect((await get(first.url)).status).toBe(200)
    expect((await cli(['status', '--control', first.control])).stdout).toContain(`keeper pid ${first.pid},`)
  })

  it('a pid file of a dead keeper is taken over; a first start that fails says to start again, and removes the pid file it wrote', async () => {
    const dir = tempDir()
    const pidFile = join(dir, 'keeper.pid')
    // A keeper that died without cleaning up: its pid is no one's now.
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    await once(dead, 'exit')
    writeFileSync(pidFile, `${dead.pid as number}\n`)
    const failing = await startKeeper(['--pid-file', pidFile], { ready: false, behaviour: 'fail' })
    await failing.fixture.waitFor(/keeper pid \d+ starting/)
    const { code } = await failing.fixture.exited(10_000)
    expect(code).toBe(1)
    expect(failing.fixture.output).toMatch(/error: the first workers did not start: .*; fix it and start again/)
    expect(failing.fixture.output).not.toMatch(/reload again/)
    expect(existsSync(pidFile)).toBe(false)
  })
})

describe('reload reload: deadlines', () => {
  it('gives up on a stopped keeper within its timeout, and the keeper does not run the abandoned request once it wakes', async () => {
    const keeper = await startKeeper()
    process.kill(keeper.pid, 'SIGSTOP')
    try {
      for (const args of [['reload', '--timeout', '1500ms'], ['reload', '--wait', '--timeout', '1500ms']]) {
        const started = Date.now()
        const gaveUp = await cli([...args, '--control', keeper.control], { timeout: 10_000 })
        expect(gaveUp.code).toBe(1)
        expect(Date.now() - started).toBeLessThan(6000)
        expect(gaveUp.stderr).toMatch(/no answer from the keeper at .* within 1500 ms: is it stopped \(SIGSTOP, a debugger\) or swamped\? It will not run this request.*\(ERR_RELOAD_CONTROL\)/)
      }
    } finally {
      process.kill(keeper.pid, 'SIGCONT')
    }
    const { index } = await keeper.fixture.waitFor(/warn: control: a reload request came in \d+ ms after its client gave up \(was the keeper stopped\?\): not run/)
    await keeper.fixture.waitFor(/warn: control: a reload request came in \d+ ms after its client gave up/, { from: index + 1 })
    const status = JSON.parse((await cli(['status', '--json', '--control', keeper.control])).stdout) as { generation: number }
    expect(status.generation).toBe(1)
    expect(keeper.fixture.output).not.toMatch(/rolling/)
    // Awake, it takes the next one.
    expect((await cli(['reload', '--wait', '--control', keeper.control])).code).toBe(0)
  })

  it('--wait: the keeper acknowledges at once; --timeout bounds the result, and the roll goes on without the client', async () => {
    const keeper = await startKeeper()
    // The next worker listens 1.5 s after it starts (see fixtures/plain-app.js), so the roll cannot end within
    // 1.2 s of the request; the keeper has those 1.2 s to acknowledge (500 ms was short with the suite beside
    // six busy loops).
    writeFileSync(join(keeper.dir, 'behaviour'), 'slow')
    const gaveUp = await cli(['reload', '--wait', '--timeout', '1200ms', '--control', keeper.control])
    expect(gaveUp.code).toBe(1)
    expect(gaveUp.stderr).toMatch(/the keeper at .* took the reload but has not finished it within 1200 ms \(--timeout\); it goes on: `reload status` shows how it went \(ERR_RELOAD_CONTROL\)/)
    await keeper.fixture.waitFor(/generation 2 serves/)
  })
})

describe('reload run: the control socket', () => {
  it('refuses control connections past 64 and closes idle ones after 5 s; the app serves throughout, status answers after', async () => {
    const keeper = await startKeeper()
    const sockets: Socket[] = []
    const closedAt = new Map<Socket, number>()
    const opened = Date.now()
    await Promise.all(Array.from({ length: 70 }, async () => {
      const socket = connect(keeper.control)
      sockets.push(socket)
      socket.on('error', () => {})
      socket.on('close', () => closedAt.set(socket, Date.now()))
      await new Promise<void>((resolve) => { socket.once('connect', resolve); socket.once('close', () => resolve()) })
    }))
    try {
      // The ones past the cap are closed at once; the rest stay open, idle.
      await until(() => closedAt.size >= 6, () => `6 connections refused (${closedAt.size} closed)`, { timeout: 3000 })
      await keeper.fixture.waitFor(/warn: control socket: 64 connections are open; refusing more until some close/)
      const refused = await cli(['status', '--control', keeper.control])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/closed the control socket without an answer .*\(ERR_RELOAD_CONTROL\)/)
      expect((await get(keeper.url)).status).toBe(200)
      await until(() => closedAt.size === 70, () => `every connection closed (${closedAt.size} of 70)`, { timeout: 10_000, every: 50 })
      const idle = [...closedAt.values()].filter((at) => at - opened >= 4500)
      expect(idle.length).toBeGreaterThanOrEqual(60)
    } finally {
      for (const socket of sockets) socket.destroy()
    }
    const status = await cli(['status', '--control', keeper.control])
    expect(status.code).toBe(0)
    expect(status.stdout).toContain(`keeper pid ${keeper.pid},`)
    expect((await get(keeper.url)).status).toBe(200)
  })

  it('a control socket that cannot be made, or no control folder at all, is ERR_RELOAD_CONTROL naming the path', async () => {
    const dir = tempDir()
    const missing = join(dir, 'nowhere', 'control.sock')
    const socket = await cli(['run', '--listen', '127.0.0.1:0', '--control', missing, '--', process.execPath, plainApp])
    expect(socket.code).toBe(1)
    expect(socket.stderr).toMatch(new RegExp(`cannot open the control socket ${missing} \\(E[A-Z]+\\).*\\(ERR_RELOAD_CONTROL\\)`))
    const folder = await cli(['run', '--listen', '127.0.0.1:0', '--', process.execPath, plainApp], { env: { TMPDIR: join(dir, 'no-tmp'), XDG_RUNTIME_DIR: '' } })
    expect(folder.code).toBe(1)
    expect(folder.stderr).toMatch(new RegExp(`no folder for the control socket: cannot create ${join(dir, 'no-tmp')}/reload-\\d+ \\(ENOENT\\).*\\(ERR_RELOAD_CONTROL\\)`))
    for (const output of [socket.stderr, folder.stderr]) expect(output).not.toMatch(/\n\s+at /)
  })

  const taken: Array<[string, (path: string) => void]> = [
    ['made by another user, mode 755', (path) => { mkdirSync(path, { mode: 0o755 }); chownSync(path, NOBODY, NOBODY) }],
    ['made by another user, mode 777', (path) => { mkdirSync(path); chmodSync(path, 0o777); chownSync(path, NOBODY, NOBODY) }],
    ['a dangling symlink', (path) => { symlinkSync(join(path, '..', 'nothing-here'), path) }]
  ]
  it.for(taken)('$TMPDIR/reload-UID %s keeps no keeper from starting, and reload status finds it', async ([, make], ctx) => {
    await requires(ctx, 'root')
    const tmp = tempDir()
    const usual = join(tmp, `reload-${process.getuid?.() ?? 0}`)
    make(usual)
    const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: '' }
    const { pid, fixture } = await keeperWithoutControl(env)
    expect(fixture.output).toMatch(new RegExp(`warn: control folder: ${usual} (?:belongs to uid ${NOBODY}|is a symlink).*: not used`))
    const status = await cli(['status'], { env })
    expect(status.code).toBe(0)
    expect(status.stdout).toContain(`keeper pid ${pid},`)
    expect((await cli(['reload', '--wait', '--pid', String(pid)], { env })).code).toBe(0)
    // Its own fresh folder, private; gone with the keeper.
    const fresh = readdirSync(tmp).filter((n) => n.startsWith(`reload-${process.getuid?.() ?? 0}-`))
    expect(fresh).toHaveLength(1)
    expect(readdirSync(join(tmp, fresh[0] as string))).toEqual([`${pid}.sock`])
    fixture.signal('SIGTERM', pid)
    expect((await fixture.exited()).code).toBe(0)
    expect(readdirSync(tmp).filter((n) => n.startsWith('reload-'))).toEqual([`reload-${process.getuid?.() ?? 0}`])
  })

  it('an inherited XDG_RUNTIME_DIR of another user is passed over with a warning', async (ctx) => {
    await requires(ctx, 'root')
    const tmp = tempDir()
    const runtime = join(tmp, 'run-user-65534')
    mkdirSync(runtime, { mode: 0o700 })
    chownSync(runtime, NOBODY, NOBODY)
    const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: runtime }
    const { pid, fixture } = await keeperWithoutControl(env)
    expect(fixture.output).toMatch(new RegExp(`warn: control folder: XDG_RUNTIME_DIR=${runtime} belongs to uid ${NOBODY}, not to this user \\(uid 0\\): not used`))
    expect(readdirSync(join(tmp, 'reload-0'))).toEqual([`${pid}.sock`])
    const status = await cli(['status'], { env })
    expect(status.stdout).toContain(`keeper pid ${pid},`)
  })
})

describe('reload run: listen errors', () => {
  it('a unix socket in a missing folder, in a folder the user may not write, over 107 bytes, or an address given twice: each says what is wrong', async (ctx) => {
    const dir = tempDir()
    const missing = await cli(['run', '--listen', `unix:${join(dir, 'no', 'such')}/app.sock`, '--', process.execPath, plainApp])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(new RegExp(`cannot listen on unix:${dir}/no/such/app\\.sock \\(EACCES\\): the folder ${dir}/no/such does not exist: create it first \\(ERR_RELOAD_LISTEN\\)`))
    expect(missing.stderr).not.toMatch(/ports below 1024/)
    const long = join(dir, 'l'.repeat(119 - dir.length))
    const tooLong = await cli(['run', '--listen', `unix:${long}`, '--', process.execPath, plainApp])
    expect(tooLong.code).toBe(2)
    expect(tooLong.stderr).toMatch(/is 120 bytes, over the 107 a unix socket path can have; choose a shorter path.*\(ERR_RELOAD_USAGE\)/)
    expect(readdirSync(dir)).toEqual([])
    const twice = await cli(['run', '--listen', '18080', '--listen', '18080', '--', process.execPath, plainApp])
    expect(twice.code).toBe(2)
    expect(twice.stderr).toMatch(/--listen 18080 is given twice: give each address once/)
    await requires(ctx, 'root')
    const locked = join(dir, 'locked')
    mkdirSync(locked, { mode: 0o555 })
    const denied = await cliWithoutDacOverride(['run', '--listen', `unix:${locked}/app.sock`, '--', process.execPath, plainApp], { TMPDIR: dir })
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(new RegExp(`cannot listen on unix:${locked}/app\\.sock \\(EACCES\\): this user may not create a socket in the folder ${locked}: .*\\(ERR_RELOAD_LISTEN\\)`))
    expect(denied.stderr).not.toMatch(/ports below 1024/)
  })
})
