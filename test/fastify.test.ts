import http from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, root, startServer, tempDir, type Fixture } from './helpers/process.js'
import { get, request, type Outcome } from './helpers/http.js'

const app = 'test/fixtures/fastify-app.js'

afterEach(closeAll)

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
const times = async <T>(n: number, fn: () => Promise<T>): Promise<T[]> => await Promise.all(Array.from({ length: n }, fn))

function index (fixture: Fixture, text: string): number {
  return fixture.lines.findIndex((line) => line.text === text)
}

// onClose must start only after the last response of the old generation, and the process must exit after it.
function expectOnCloseAfter (fixture: Fixture, pid: number, lastResponse: string): void {
  const responded = index(fixture, `responded ${lastResponse} 200 (pid ${pid})`)
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
    const slow = request(`${url}/?sleep=3`)
    await sleep(200)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect(index(fixture, `onClose started (pid ${pid})`)).toBe(-1)
    const old = await slow
    expect(old).toMatchObject({ status: 200, body: `ospid:${pid}` })
    expect(old.headers?.connection).toBe('close')
    await fixture.gone(pid)
    expectOnCloseAfter(fixture, pid, '/?sleep=3')
    expect(index(fixture, `onClose started (pid ${next})`)).toBe(-1)
    expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
  })

  it('on SIGTERM, onClose runs after the in-flight request and the process exits 0', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = request(`${url}/?sleep=0.8`)
    await sleep(200)
    fixture.signal('SIGTERM', pid)
    expect(await slow).toMatchObject({ status: 200, body: `ospid:${pid}` })
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
    expectOnCloseAfter(fixture, pid, '/?sleep=0.8')
  })

  it('keep-alive requests during the drain get 200 and Connection: close, never a 503', async () => {
    const { fixture, url, pid } = await startServer(app)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
    try {
      const warm = await times(4, async () => await request(`${url}/?sleep=0.1`, { agent }))
      expect(warm.map((o) => o.body)).toEqual(Array(4).fill(`ospid:${pid}`))
      const slow = request(`${url}/?sleep=1.5`)
      await sleep(100)
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      // The agent's four idle sockets still lead to the draining generation.
      const during = await times(4, async () => await request(`${url}/?sleep=0.05`, { agent }))
      const summary = (outcomes: Outcome[]): unknown[] => outcomes.map((o) => [o.status, o.body, o.headers?.connection])
      expect(summary(during)).toEqual(Array(4).fill([200, `ospid:${pid}`, 'close']))
      const after = await times(4, async () => await request(`${url}/?sleep=0`, { agent }))
      expect(summary(after)).toEqual(Array(4).fill([200, `ospid:${next}`, 'keep-alive']))
      expect(await slow).toMatchObject({ status: 200, body: `ospid:${pid}` })
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
  async function startWithHosts (addresses: string[]): Promise<{ fixture: Fixture, pid: number, port: number, main: string, bound: string }> {
    const dir = tempDir()
    const hosts = join(dir, 'hosts')
    writeFileSync(hosts, addresses.map((address) => `${address} localhost\n`).join(''))
    const { fixture, pid } = await startServer(app, {
      command: 'unshare',
      args: ['--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$1" "$2"', hosts, process.execPath, join(root, app)]
    })
    const { match } = await fixture.waitFor(/listening on http:\/\/localhost:(\d+) \(pid \d+\) main=(\S+) addresses=(\S+)/)
    return { fixture, pid, port: Number(match[1]), main: match[2] as string, bound: match[3] as string }
  }

  async function startDualStack (): Promise<{ fixture: Fixture, pid: number, port: number, main: string, other: string }> {
    const { bound, main, ...started } = await startWithHosts(['127.0.0.1', '::1'])
    expect(bound).toBe('127.0.0.1,::1')
    return { ...started, main, other: main === '::1' ? '127.0.0.1' : '::1' }
  }

  const urlOf = (address: string, port: number): string => `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  const nameOf = (address: string, port: number): string => address.includes(':') ? `tcp6-${address.replaceAll(':', '%3A')}-${port}` : `tcp-${address}-${port}`

  it('hands over both bindings: no EADDRINUSE, the new pid serves both, idle sockets of the extra one are kept', async () => {
    const { fixture, pid, port, main, other } = await startDualStack()
    const urls = [urlOf(main, port), urlOf(other, port)]
    for (const url of urls) expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${pid}`)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      expect((await request(`${urls[1]}/?sleep=0`, { agent })).body).toBe(`ospid:${pid}`)
      // Only the extra binding has work in flight: the main server closes first, which is when Fastify
      // closes the extra one too.
      const slow = request(`${urls[1]}/?sleep=1.5`)
      await sleep(200)
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      const { match } = await fixture.waitFor(new RegExp(`generation 2 ready \\(pid=${next} generation=2 listening=(\\S+)\\)`))
      expect((match[1] as string).split(',').sort()).toEqual([`${nameOf(main, port)}-any`, nameOf(other, port)].sort())
      const kept = await request(`${urls[1]}/?sleep=0`, { agent })
      expect([kept.status, kept.body, kept.headers?.connection]).toEqual([200, `ospid:${pid}`, 'close'])
      for (const url of urls) expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
      expect(await slow).toMatchObject({ status: 200, body: `ospid:${pid}` })
      await fixture.gone(pid)
      await fixture.waitFor(new RegExp(`listening on http://localhost:${port} \\(pid ${next}\\) main=\\S+ addresses=127\\.0\\.0\\.1,::1$`))

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
  it('an extra address that cannot be bound fails no handover', async () => {
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
})
