import net from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, get, startServer } from '@reload/test-helpers'

const app = 'test/fixtures/http-app.js'

afterEach(closeAll)

/** Resolves once `socket` has received data that `complete` accepts; rejects if it closes first. */
async function received (socket: net.Socket, read: () => string, complete: (data: string) => boolean, what: string): Promise<void> {
  while (!complete(read())) {
    if (socket.destroyed) throw new Error(`the socket closed before ${what}: ${JSON.stringify(read())}`)
    await new Promise<void>((resolve) => {
      const done = (): void => { socket.off('data', done); socket.off('close', done); resolve() }
      socket.on('data', done)
      socket.on('close', done)
    })
  }
}

/** One keep-alive socket, requests written by hand, so the test decides when it is idle. */
function keepAlive (url: string): { send: (path: string) => Promise<string>, closed: Promise<unknown> } {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  let buffer = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { buffer += chunk })
  return {
    closed: once(socket, 'close'),
    async send (path) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      await received(socket, () => buffer, (data) => /\r\n\r\nospid:\d+$/.test(data), `a response to ${path}`)
      const response = buffer
      buffer = ''
      return response
    }
  }
}

// The new generation logs ready once it has told the old one, which then starts its drain.
async function draining (fixture: Fixture, pid: number): Promise<void> {
  await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
}

describe('drain', () => {
  it('a socket idle at handover stays open for its grace and its next request is served by the old pid, with Connection: close', async () => {
    const { fixture, url, pid } = await startServer(app)
    const client = keepAlive(url)
    expect(await client.send('/')).toMatch(/Connection: keep-alive[\s\S]*ospid:\d+$/)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await draining(fixture, pid)
    const last = await client.send('/')
    expect(last).toMatch(/^HTTP\/1.1 200 OK\r\n/)
    expect(last).toMatch(/Connection: close\r\n/)
    expect(last.endsWith(`ospid:${pid}`)).toBe(true)
    await client.closed
    await fixture.gone(pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
  })

  it('drainTimeout cuts what is left, logs how many requests it cut, and exits 1', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { RELOAD_DRAIN_TIMEOUT: '400' } })
    const slow = await fixture.inFlight(`${url}/?sleep=30`)
    const started = Date.now()
    fixture.signal('SIGTERM', pid)
    expect((await slow.response).error).toBe('ECONNRESET')
    expect(await fixture.exit).toEqual({ code: 1, signal: null })
    // At least the drainTimeout, and well before the 30 s request would have ended on its own.
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(400)
    expect(elapsed).toBeLessThan(15_000)
    expect(fixture.output).toMatch(/warn: drainTimeout \(400 ms\) reached: cut 1 requests on 1 connections/)
  })

  it('a second SIGTERM exits at once', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = await fixture.inFlight(`${url}/?sleep=30`)
    const started = Date.now()
    fixture.signal('SIGTERM', pid)
    await fixture.waitFor(/SIGTERM received/)
    fixture.signal('SIGTERM', pid)
    expect(await fixture.exit).toEqual({ code: 1, signal: null })
    // At once: well before the 30 s request (and the default drainTimeout) would let a drain end.
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(fixture.output).toMatch(/warn: second SIGTERM: cutting what is left and exiting now/)
    expect(fixture.output).toMatch(/warn: second shutdown signal: cut 1 requests on 1 connections/)
    expect((await slow.response).error).toBe('ECONNRESET')
  })

  it('SIGINT drains like SIGTERM', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = await fixture.inFlight(`${url}/?sleep=0.5`)
    fixture.signal('SIGINT', pid)
    expect((await slow.response).body).toBe(`ospid:${pid}`)
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
  })
})

/** Opens an upgraded (echo) connection; resolves once the 101 arrived. */
async function upgrade (url: string): Promise<{ socket: net.Socket, received: () => string, echoed: (text: string) => Promise<void>, closed: Promise<unknown> }> {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  let data = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { data += chunk })
  socket.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
  await received(socket, () => data, (d) => d.includes('\r\n\r\n'), 'the 101')
  expect(data).toMatch(/^HTTP\/1.1 101 Switching Protocols/)
  data = ''
  return {
    socket,
    received: () => data,
    echoed: async (text) => { await received(socket, () => data, (d) => d.endsWith(text), `the echo of ${JSON.stringify(text)}`) },
    closed: once(socket, 'close')
  }
}

describe('drain of upgraded connections (WebSocket and the like)', () => {
  it('keeps the old generation until the app closes its upgraded sockets on the drain event', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { CLOSE_UPGRADED_ON_DRAIN: '1' } })
    const echo = await upgrade(url)
    fixture.signal('SIGHUP', pid)
    await fixture.ready(2)
    await echo.closed
    expect(echo.received()).toBe(`bye from ${pid}\n`)
    await fixture.gone(pid)
    expect(fixture.output).toMatch(new RegExp(`reload\\[${pid}\\]: draining \\(requests=0 connections=1\\)`))
  })

  it('cuts an upgraded socket nobody closes at drainTimeout', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { RELOAD_DRAIN_TIMEOUT: '600' } })
    const echo = await upgrade(url)
    echo.socket.write('ping\n')
    await echo.echoed('ping\n')
    fixture.signal('SIGHUP', pid)
    await fixture.ready(2)
    await draining(fixture, pid)
    // Still open and still the old generation's while the drain waits.
    echo.socket.write('still there\n')
    await echo.echoed('still there\n')
    expect(echo.received()).toBe('ping\nstill there\n')
    await echo.closed
    await fixture.gone(pid)
    expect(fixture.output).toMatch(new RegExp(`reload\\[${pid}\\]: warn: drainTimeout \\(600 ms\\) reached: cut 0 requests on 1 connections`))
  })
})
