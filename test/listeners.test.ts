import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, getUnix, listensOn, nodeArgs, portBelowEphemeralRange, socketActivate, request, requires, root, startProcess, startServer, tempDir, until } from '@reload/test-helpers'

const app = 'test/fixtures/http-app.js'
const protocolVariable = /^(LISTEN_FDS|LISTEN_PID|LISTEN_FDNAMES|RELOAD_READY_FD|RELOAD_GENERATION)=/m

afterEach(closeAll)

describe('listeners', () => {
  it('a port changed in the new config takes effect; the old port is released', async () => {
    // The first config names a port (one that no port-0 bind of another test can take); the new config
    // says 0, any free port, which the new generation reads back from its server.
    const before = await portBelowEphemeralRange()
    const portFile = join(tempDir(), 'port')
    writeFileSync(portFile, String(before))
    const { fixture, url, pid } = await startServer(app, { env: { PORT_FILE: portFile } })
    expect(new URL(url).port).toBe(String(before))
    writeFileSync(portFile, '0')
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    const { match } = await fixture.waitFor(new RegExp(`^listening on http://127\\.0\\.0\\.1:(\\d+) \\(pid ${next}\\)`))
    const after = Number(match[1])
    expect(after).not.toBe(before)
    expect(fixture.output).toContain(`closed inherited listeners the new code does not use (names=tcp-127.0.0.1-${before})`)
    expect((await get(`http://127.0.0.1:${after}/`)).body).toBe(`ospid:${next}`)
    await fixture.gone(pid)
    // The old generation's holder lets go of the old port once it sees the drain over, a moment later.
    await until(() => !listensOn(before), `nothing listens on port ${before}`)
    expect((await request(`http://127.0.0.1:${before}/`)).error).toBe('ECONNREFUSED')
  })

  it('hands a unix socket over; only the last generation removes its path', async () => {
    const socket = join(tempDir(), 'app.sock')
    const fixture = startProcess(app, { env: { SOCKET: socket } })
    const pid = await fixture.ready(1)
    expect(await getUnix(socket)).toBe(`ospid:${pid}`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.gone(pid)
    expect(existsSync(socket)).toBe(true)
    expect(await getUnix(socket)).toBe(`ospid:${next}`)
    fixture.signal('SIGHUP', next)
    const third = await fixture.ready(3)
    await fixture.gone(next)
    expect(await getUnix(socket)).toBe(`ospid:${third}`)
    fixture.signal('SIGTERM', third)
    await fixture.gone(third)
    expect(existsSync(socket)).toBe(false)
  })

  it('leaves no LISTEN_* or RELOAD_* variable and no socket to the app\'s own children', async () => {
    const { fixture, url, pid } = await startServer(app)
    fixture.signal('SIGHUP', pid)
    await fixture.ready(2)
    for (const body of [(await get(`${url}/env`)).body]) {
      expect(body).not.toMatch(protocolVariable)
      const fds = body.trim().split('\n').map((line) => line.split(' '))
      expect(fds.filter(([fd, target]) => Number(fd?.split('/').pop()) > 2 && target?.startsWith('socket:'))).toEqual([])
      expect(fds.length).toBeGreaterThanOrEqual(3)
    }
  })

  it('ignores LISTEN_FDS whose LISTEN_PID is another process', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { LISTEN_FDS: '1', LISTEN_PID: '1', LISTEN_FDNAMES: 'tcp-127.0.0.1-1' } })
    expect((await get(`${url}/`)).body).toBe(`ospid:${pid}`)
    expect((await get(`${url}/env`)).body).not.toMatch(protocolVariable)
    expect(fixture.output).toContain('listening=tcp-127.0.0.1-')
  })

  it('starts under systemd-socket-activate and hands its socket on', async (ctx) => {
    await requires(ctx, 'systemd-socket-activate')
    const { fixture, port } = await socketActivate(() => ['-E', 'PORT=8080', ...nodeArgs(join(root, app))])
    // systemd-socket-activate starts the app on the first connection, by exec: same pid.
    const first = await get(`http://127.0.0.1:${port}/`)
    const pid = await fixture.ready(1)
    expect(pid).toBe(fixture.child.pid)
    expect(first.body).toBe(`ospid:${pid}`)
    expect(fixture.output).toContain('listening=unknown')
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.gone(pid)
    expect((await get(`http://127.0.0.1:${port}/`)).body).toBe(`ospid:${next}`)
  })

  it('examples/systemd takes the socket systemd names "http", and its pid file follows the handover', async (ctx) => {
    await requires(ctx, 'systemd-socket-activate')
    const pidFile = join(tempDir(), 'app.pid')
    // systemd-socket-activate passes its children only the variables named with -E.
    const { fixture, port } = await socketActivate(() => ['--fdname=http', '-E', 'PORT=1', '-E', `PID_FILE=${pidFile}`,
      ...nodeArgs(join(root, 'examples/systemd/server.js'))])
    const first = await get(`http://127.0.0.1:${port}/`)
    const pid = await fixture.ready(1)
    expect(first.body).toBe(`ospid:${pid}`)
    expect(fixture.output).toContain('listening=http')
    expect(readFileSync(pidFile, 'utf8')).toBe(`${pid}\n`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.gone(pid)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${next}\n`)
    expect((await get(`http://127.0.0.1:${port}/`)).body).toBe(`ospid:${next}`)
  })

  it.for([
    ['IPv6 loopback', '::1', 'tcp6-%3A%3A1-'],
    ['every address (no host)', '', 'tcp6-%3A%3A-']
  ] as const)('hands over a listener on %s', async ([, host, name], ctx) => {
    await requires(ctx, 'ipv6 loopback')
    const { fixture, url, pid } = await startServer(app, { env: { HOST: host } })
    expect(fixture.output).toContain(`listening=${name}`)
    expect((await get(`${url}/`)).body).toBe(`ospid:${pid}`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.gone(pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
    expect(fixture.output).not.toContain('closed inherited listeners')
  })

  it('hands over every listener of an app with two servers', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { EXTRA: '1' } })
    const { match } = await fixture.waitFor(/extra on (http:\/\/\S+)/)
    const extra = match[1] as string
    expect((await get(`${extra}/`)).body).toBe(`extra:${pid}`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    // The old generation's line may come after the new one's ready: a busy machine can hold the old one
    // between its spawn and its log line for the whole of the new one's start (CI).
    await fixture.waitFor(new RegExp(`starting generation 2 \\(child=${next} listeners=2\\)`))
    await fixture.gone(pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
    expect((await get(`${extra}/`)).body).toBe(`extra:${next}`)
    expect(fixture.output).not.toContain('closed inherited listeners')
  })
})
