import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, isAlive, Load, logArrivals, portBelowEphemeralRange, requires, root, socketActivate, startProcess, tempDir, until, which } from '@reload/test-helpers'
import { answeredBy, cli, inPidNamespace, plainApp, reloadBin, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

const adapters = {
  fastify: 'test/fixtures/fastify-app.js',
  express: 'test/fixtures/express-app.js',
  koa: 'test/fixtures/koa-app.js'
}

describe('reload run: the ways it is started', () => {
  for (const [name, app] of Object.entries(adapters)) {
    it(`an app on the ${name} adapter runs under the keeper unchanged: 2 workers, a roll, 0 failed`, async () => {
      const keeper = await startKeeper(['--workers', '2'], { app: join(root, app) })
      const first = workers(keeper.fixture).map((w) => w.pid)
      await answeredBy(keeper.url, first)
      const load = new Load(keeper.url, { connections: 6 }).start()
      await load.until((o) => o.length >= 20, '20 responses')
      const roll = await cli(['reload', '--wait', '--control', keeper.control])
      expect(roll.code).toBe(0)
      const next = workers(keeper.fixture).filter((w) => w.generation === 2).map((w) => w.pid)
      await answeredBy(keeper.url, next)
      for (const pid of first) await keeper.fixture.gone(pid)
      await load.stop()
      expect(load.failures).toEqual([])
    })
  }

  it('each worker reads its settings anew: node --env-file, a .env edited between reloads', async () => {
    const dir = tempDir()
    const env = join(dir, '.env')
    writeFileSync(env, 'GREETING=first\n')
    const keeper = await startKeeper([], { command: [process.execPath, `--env-file=${env}`, plainApp] })
    expect((await get(keeper.url)).body).toMatch(/greeting=first$/)
    writeFileSync(env, 'GREETING=second\n')
    keeper.fixture.signal('SIGHUP', keeper.pid)
    await keeper.fixture.waitFor(/generation 2 serves/)
    expect((await get(keeper.url)).body).toMatch(/greeting=second$/)
  })

  it('a symlinked release directory: after the link moves, the next workers run the new release', async () => {
    const dir = tempDir()
    for (const version of ['v1', 'v2']) {
      mkdirSync(join(dir, 'releases', version), { recursive: true })
      writeFileSync(join(dir, 'releases', version, 'server.js'), readFileSync(plainApp, 'utf8'))
      writeFileSync(join(dir, 'releases', version, '.env'), `GREETING=${version}\n`)
    }
    symlinkSync(join(dir, 'releases', 'v1'), join(dir, 'current'))
    const current = join(dir, 'current')
    // As a deploy script starts it: `cd current && reload run … -- node --env-file=.env server.js`.
    const fixture = startProcess(reloadBin, {
      args: ['run', '--listen', '127.0.0.1:0', '--', process.execPath, '--env-file=.env', 'server.js'],
      cwd: current,
      env: { PWD: current, HOST: '127.0.0.1', PORT: '0' }
    })
    const { match } = await fixture.waitFor(/ready on 127\.0\.0\.1:(\d+)/)
    const url = `http://127.0.0.1:${match[1] as string}`
    expect((await get(url)).body).toMatch(/greeting=v1$/)
    symlinkSync(join(dir, 'releases', 'v2'), join(dir, 'next'))
    renameSync(join(dir, 'next'), current)
    fixture.signal('SIGHUP', fixture.child.pid as number)
    await fixture.waitFor(/generation 2 serves/)
    expect((await get(url)).body).toMatch(/greeting=v2$/)
  })

  it('a worker that sends itself SIGHUP (or gets one) passes it on: the keeper rolls, nothing else happens', async () => {
    const keeper = await startKeeper()
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    process.kill(first, 'SIGHUP')
    await keeper.fixture.waitFor(/passing it on to the keeper/)
    await keeper.fixture.waitFor(/generation 2 serves/)
    await keeper.fixture.gone(first)
    expect(isAlive(keeper.pid)).toBe(true)
  })

  it('starts under systemd-socket-activate: the keeper takes LISTEN_FDS and its workers share the socket', async (ctx) => {
    await requires(ctx, 'systemd-socket-activate')
    const { fixture, port } = await socketActivate((port) => ['-E', 'HOST=127.0.0.1', '-E', `PORT=${port}`,
      process.execPath, reloadBin, 'run', '--workers', '2', '--', process.execPath, '--import', logArrivals, plainApp])
    const url = `http://127.0.0.1:${port}`
    // systemd-socket-activate starts the keeper on the first connection, which waits in the backlog.
    const first = await get(url)
    await fixture.waitFor(/2 workers ready on fd 3 \(unknown\)/)
    const keeper = fixture.child.pid as number
    expect(fixture.output).toContain(`keeper pid ${keeper} starting`)
    const pids = workers(fixture).map((w) => w.pid)
    expect(pids).toContain(first.pid)
    await answeredBy(url, pids)
    fixture.signal('SIGHUP', keeper)
    await fixture.waitFor(/generation 2 serves/)
    const next = workers(fixture).filter((w) => w.generation === 2).map((w) => w.pid)
    await answeredBy(url, next)
    fixture.signal('SIGTERM', keeper)
    expect((await fixture.exited()).code).toBe(0)
  })

  it('runs as a container\'s main process behind tini, in its own PID namespace: reload, then SIGTERM drains and exits 0', async (ctx) => {
    await requires(ctx, 'root', 'mount namespace')
    const tini = which('tini') ?? which('tini-static')
    if (tini === undefined && process.env.CI === 'true') throw new Error('tini is not installed (.ci/run installs it)')
    if (tini === undefined) { ctx.skip('tini is not installed'); return }
    const port = await portBelowEphemeralRange()
    const { fixture, pidOne } = inPidNamespace([tini, '--', process.execPath, reloadBin, 'run', '--listen', `127.0.0.1:${port}`, '--', process.execPath, '--import', logArrivals, plainApp],
      { HOST: '127.0.0.1', PORT: String(port) })
    await fixture.waitFor(/worker ready on 127\.0\.0\.1/)
    // Inside the namespace the keeper is pid 2, right under tini.
    expect(fixture.output).toMatch(/keeper pid 2 starting/)
    const url = `http://127.0.0.1:${port}`
    const load = new Load(url, { connections: 4 }).start()
    await load.until((o) => o.length >= 20, '20 responses')
    const first = (await get(url)).pid
    // Signals go to tini (the container's pid 1, seen from outside), which passes them to the keeper.
    const tiniPid = pidOne()
    process.kill(tiniPid, 'SIGHUP')
    await fixture.waitFor(/generation 2 serves/)
    await load.until((o) => o.some((x) => x.pid !== undefined && x.pid !== first), 'an answer from the new worker')
    const slow = await fixture.inFlight(`${url}/?sleep=0.5`)
    process.kill(tiniPid, 'SIGTERM')
    const { code } = await fixture.exited(20_000)
    await load.stop()
    expect(code).toBe(0)
    // What a worker took finished; a connection still in the accept queue when the last listener closed
    // is reset, as with any server that stops (a load balancer's shutdown delay is the cure).
    expect(load.failures.filter((o) => o.error !== 'ECONNREFUSED' && o.error !== 'ECONNRESET')).toEqual([])
    expect((await slow.response).status).toBe(200)
    expect(fixture.output).toMatch(/keeper exits \(code=0\)/)
  })

  it('tells systemd (Type=notify) through systemd-notify: READY=1, RELOADING=1 and READY=1 around a roll, STOPPING=1; workers never see NOTIFY_SOCKET', async () => {
    const dir = tempDir()
    const said = join(dir, 'said')
    // Stands in for systemd-notify: writes down what it was asked to send, and who its parent is, then waits
    // a little as the real one waits for its barrier: STOPPING=1 queues behind the roll's READY=1, and the
    // keeper must not exit before it is sent.
    writeFileSync(join(dir, 'systemd-notify'), `#!/bin/sh\nshift\necho "$PPID $*" >> '${said}'\nsleep 0.3\n`, { mode: 0o755 })
    const keeper = await startKeeper([], { env: { PATH: `${dir}:${process.env.PATH ?? ''}`, NOTIFY_SOCKET: join(dir, 'notify.sock') } })
    const lines = (): string[] => { try { return readFileSync(said, 'utf8').trim().split('\n') } catch { return [] } }
    await until(() => lines().length >= 1, 'READY=1')
    const [worker] = workers(keeper.fixture).map((w) => w.pid)
    expect(readFileSync(`/proc/${worker as number}/environ`, 'utf8').split('\0').filter((v) => v.startsWith('NOTIFY_SOCKET='))).toEqual([])
    keeper.fixture.signal('SIGHUP', keeper.pid)
    await until(() => lines().length >= 3, 'RELOADING=1, READY=1')
    keeper.fixture.signal('SIGTERM', keeper.pid)
    await keeper.fixture.exited()
    await until(() => lines().length >= 4, 'STOPPING=1')
    const sent = lines()
    expect(sent.map((l) => l.split(' ')[0])).toEqual(Array(4).fill(String(keeper.pid)))
    expect(sent[0]).toMatch(/ READY=1 STATUS=worker serving on 127\.0\.0\.1:\d+$/)
    expect(sent[1]).toMatch(/ RELOADING=1 STATUS=rolling over to generation 2 MONOTONIC_USEC=\d+$/)
    expect(sent[2]).toMatch(/ READY=1 STATUS=generation 2 serves \(pids \d+\)$/)
    expect(sent[3]).toMatch(/ STOPPING=1$/)
  })

  it('bad input is a coded error with exit code 2, and an address in use exits 1 naming it', async () => {
    const usage = await cli(['run', '--listen', 'nowhere', '--', 'node', 'x.js'])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/^reload: --listen 'nowhere' is not an address: use PORT, HOST:PORT, \[IPV6\]:PORT or unix:\/path; see `reload --help` \(ERR_RELOAD_USAGE\)/)
    expect((await cli(['run', '--workers', '0', '--', 'node'])).stderr).toMatch(/--workers should be a whole number from 1 to 1024, instead got '0'/)
    expect((await cli(['run', '--listen', '3000'])).stderr).toMatch(/reload run needs a command to run, after --/)
    expect((await cli(['run', '--drain-timeout', 'soon', '--', 'node'])).stderr).toMatch(/--drain-timeout should be a time such as 5000, 500ms, 30s or 2m, instead got 'soon'/)
    expect((await cli(['frobnicate'])).stderr).toMatch(/unknown command 'frobnicate'/)
    const wrapped = await cli(['run', '--listen', '127.0.0.1:0', '--', 'npm', 'start'])
    expect(wrapped.code).toBe(1)
    expect(wrapped.stderr).toMatch(/warn: npm starts the server as its own child and does not pass the listening sockets on/)
    const keeper = await startKeeper()
    const taken = await cli(['run', '--listen', `127.0.0.1:${keeper.port}`, '--', 'node', 'x.js'])
    expect(taken.code).toBe(1)
    expect(taken.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${keeper.port} \\(EADDRINUSE\\).*\\(ERR_RELOAD_LISTEN\\)`))
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage:\n {2}reload run/)
  })
})
