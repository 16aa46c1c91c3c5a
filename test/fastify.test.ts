import http from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, nodeArgs, type Outcome, request, requires, root, startServer, tempDir, type Fixture } from '@reload/test-helpers'

const app = 'test/fixtures/fastify-app.js'

afterEach(closeAll)

const times = async <T>(n: number, fn: () => Promise<T>): Promise<T[]> => await Promise.all(Array.from({ length: n }, fn))

function index (fixture: Fixture, text: string): number {
  return fixture.lines.findIndex((line) => line.text === text)
}

// onClose must start only after the last response of the old generation, and the process must exit after it.
// `lastResponse` is the path before the `arrival=` mark that Fixture.inFlight() adds.
function expectOnCloseAfter (fixture: Fixture, pid: number, lastResponse: string): void {
  const responded = fixture.lines.findIndex(({ text }) => text.startsWith(`responded ${lastResponse}&arrival=`) && text.endsWith(` 200 (pid ${pid})`))
  const started = index(fixture, `onClose started (pid ${pid})`)
  const done = index(fixture, `onClose done (pid ${pid})`)
  const exiting = index(fixture, `reload[${pid}]: exiting (code=0)`)
  expect(responded).toBeGreaterThanOrEqual(0)
  expect(started).toBeGreaterThan(responded)
  expect(done).toBeGreaterThan(started)
  expect(exiting).toBeGreaterThan(done)
}

describe('@reload/fastify drain', () => {
  it('on SIGHUP, app.close() and its onClose hooks run after the last in-flight request', async () => {
    const { fixture, url, pid } = await startServer(app)
    // Long enough to be in flight whatever the handover takes on a busy machine.
    const slow = await fixture.inFlight(`${url}/?sleep=3`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect(index(fixture, `onClose started (pid ${pid})`)).toBe(-1)
    const old = await slow.response
    expect(old).toMatchObject({ status: 200, body: `ospid:${pid}` })
    expect(old.headers?.connection).toBe('close')
    await fixture.gone(pid)
    expectOnCloseAfter(fixture, pid, '/?sleep=3')
    expect(index(fixture, `onClose started (pid ${next})`)).toBe(-1)
    expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
  })

  it('on SIGTERM, onClose runs after the in-flight request and the process exits 0', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = await fixture.inFlight(`${url}/?sleep=0.8`)
    fixture.signal('SIGTERM', pid)
    expect(await slow.response).toMatchObject({ status: 200, body: `ospid:${pid}` })
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
    expectOnCloseAfter(fixture, pid, '/?sleep=0.8')
  })

  it('keep-alive requests during the drain get 200 and Connection: close, never a 503', async () => {
    const { fixture, url, pid } = await startServer(app)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
    try {
      const warm = await times(4, async () => await request(`${url}/?sleep=0.1`, { agent }))
      expect(warm.map((o) => o.body)).toEqual(Array(4).fill(`ospid:${pid}`))
      const slow = await fixture.inFlight(`${url}/?sleep=2.5`)
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      // Until the old generation logs `draining`, its sockets do not answer with Connection: close yet.
      await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
      // The agent's four idle sockets still lead to the draining generation.
      const during = await times(4, async () => await request(`${url}/?sleep=0.05`, { agent }))
      const summary = (outcomes: Outcome[]): unknown[] => outcomes.map((o) => [o.status, o.body, o.headers?.connection])
      expect(summary(during)).toEqual(Array(4).fill([200, `ospid:${pid}`, 'close']))
      const after = await times(4, async () => await request(`${url}/?sleep=0`, { agent }))
      expect(summary(after)).toEqual(Array(4).fill([200, `ospid:${next}`, 'keep-alive']))
      expect(await slow.response).toMatchObject({ status: 200, body: `ospid:${pid}` })
      await fixture.gone(pid)
      expect(fixture.output).not.toMatch(/^responded \S+ (?!200)/m)
    } finally {
      agent.destroy()
    }
  })
})

describe('@reload/fastify with the default host localhost', () => {
  // Fastify binds both addresses only where localhost resolves to both; this machine's /etc/hosts lists
  // 127.0.0.1 alone, so the app runs in a mount namespace of its own whose /etc/hosts adds ::1.
  async function startWithHosts (addresses: string[], env: Record<string, string> = {}): Promise<{ fixture: Fixture, pid: number, port: number, main: string, bound: string }> {
    const dir = tempDir()
    const hosts = join(dir, 'hosts')
    writeFileSync(hosts, addresses.map((address) => `${address} localhost\n`).join(''))
    const { fixture, pid } = await startServer(app, {
      command: 'unshare',
      args: ['--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, ...nodeArgs(join(root, app))],
      env
    })
    const { match } = await fixture.waitFor(/listening on http:\/\/localhost:(\d+) \(pid \d+\) main=(\S+)$/)
    // Every address handed over, as the ready line names them (app.addresses() lists app.server's only).
    const ready = await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: generation 1 ready \\(generation=1 listening=(\\S+)\\)`))
    const bound = (ready.match[1] as string).split(',').map((name) => decodeURIComponent(name.split('-')[1] as string)).sort().join(',')
    return { fixture, pid, port: Number(match[1]), main: match[2] as string, bound }
  }

  async function startDualStack (): Promise<{ fixture: Fixture, pid: number, port: number, main: string, other: string }> {
    const { bound, main, ...started } = await startWithHosts(['127.0.0.1', '::1'])
    expect(bound).toBe('127.0.0.1,::1')
    return { ...started, main, other: main === '::1' ? '127.0.0.1' : '::1' }
  }

  const urlOf = (address: string, port: number): string => `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  const nameOf = (address: string, port: number): string => address.includes(':') ? `tcp6-${address.replaceAll(':', '%3A')}-${port}` : `tcp-${address}-${port}`

  it('hands over both bindings: no EADDRINUSE, the new pid serves both, idle sockets of the extra one are kept', async (ctx) => {
    await requires(ctx, 'root', 'mount namespace', 'ipv6 loopback')
    const { fixture, pid, port, main, other } = await startDualStack()
    const urls = [urlOf(main, port), urlOf(other, port)]
    for (const url of urls) expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${pid}`)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      expect((await request(`${urls[1]}/?sleep=0`, { agent })).body).toBe(`ospid:${pid}`)
      // Only the extra binding has work in flight: the main server closes first, which is when Fastify
      // closes the extra one too.
      const slow = await fixture.inFlight(`${urls[1]}/?sleep=1.5`)
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      const { match } = await fixture.waitFor(new RegExp(`^reload\\[${next}\\]: generation 2 ready \\(generation=2 listening=(\\S+)\\)`))
      expect((match[1] as string).split(',').sort()).toEqual([`${nameOf(main, port)}-any`, nameOf(other, port)].sort())
      // Until the old generation logs `draining`, it still accepts and does not answer with Connection: close.
      await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
      const kept = await request(`${urls[1]}/?sleep=0`, { agent })
      expect([kept.status, kept.body, kept.headers?.connection]).toEqual([200, `ospid:${pid}`, 'close'])
      for (const url of urls) expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
      expect(await slow.response).toMatchObject({ status: 200, body: `ospid:${pid}` })
      await fixture.gone(pid)
      await fixture.waitFor(new RegExp(`listening on http://localhost:${port} \\(pid ${next}\\) main=\\S+$`))

      fixture.signal('SIGHUP', next)
      const third = await fixture.ready(3)
      for (const url of urls) expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${third}`)
      await fixture.gone(next)
      expect(fixture.output).not.toMatch(/EADDRINUSE|closed inherited listeners/)
    } finally {
      agent.destroy()
    }
  })

  // Fastify goes on without an address of localhost it cannot bind, as in a container with IPv6 off;
  // 2001:db8::1 (documentation prefix) is on no interface here, so its bind fails the same way.
  it('an extra address that cannot be bound fails no handover', async (ctx) => {
    await requires(ctx, 'root', 'mount namespace', 'ipv6 loopback')
    const { fixture, pid, port, main, bound } = await startWithHosts(['127.0.0.1', '2001:db8::1'])
    expect([main, bound]).toEqual(['127.0.0.1', '127.0.0.1'])
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect((await get(`http://127.0.0.1:${port}/?sleep=0`)).body).toBe(`ospid:${next}`)
    await fixture.gone(pid)
    for (const generation of [pid, next]) {
      expect(fixture.output).toContain(`reload[${generation}]: listen EADDRNOTAVAIL: address not available 2001:db8::1:${port}; serving without it`)
    }
    expect(fixture.output).not.toMatch(/handover failed|ERR_RELOAD/)
  })

  it('without reload\'s serverFactory, an address Fastify binds on a server of its own is named in a warning', async (ctx) => {
    await requires(ctx, 'root', 'mount namespace', 'ipv6 loopback')
    const { fixture, pid, port, main } = await startWithHosts(['127.0.0.1', '::1'], { NO_FACTORY: '1' })
    const other = main === '::1' ? '127.0.0.1' : '[::1]'
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: warn: Fastify also listens on ${other.replace(/[.[\]]/g, '\\$&')}:${port}, on a server of its own that reload cannot hand over`, 'm'))
  })
})
