import net from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, startServer } from './helpers/process.js'
import { get, request } from './helpers/http.js'

const app = 'test/fixtures/http-app.js'
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

afterEach(closeAll)

/** One keep-alive socket, requests written by hand, so the test decides when it is idle. */
function keepAlive (url: string): { send: (path: string) => Promise<string>, closed: Promise<unknown> } {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  let buffer = ''
  let wake = (): void => {}
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { buffer += chunk; wake() })
  return {
    closed: once(socket, 'close'),
    async send (path) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      const deadline = Date.now() + 5000
      while (!/\r\n\r\nospid:\d+$/.test(buffer)) {
        if (Date.now() > deadline) throw new Error(`no response on the kept-alive socket: ${JSON.stringify(buffer)}`)
        await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 50) })
      }
      const response = buffer
      buffer = ''
      return response
    }
  }
}

describe('drain', () => {
  it('a socket idle at handover stays open for its grace and its next request is served by the old pid, with Connection: close', async () => {
    const { fixture, url, pid } = await startServer(app)
    const client = keepAlive(url)
    expect(await client.send('/')).toMatch(/Connection: keep-alive[\s\S]*ospid:\d+$/)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await sleep(200)
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
    const slow = request(`${url}/?sleep=5`)
    await sleep(150)
    const started = Date.now()
    fixture.signal('SIGTERM', pid)
    expect((await slow).error).toBe('ECONNRESET')
    expect(await fixture.exit).toEqual({ code: 1, signal: null })
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(400)
    expect(elapsed).toBeLessThan(3000)
    expect(fixture.output).toMatch(/warn: drainTimeout \(400 ms\) reached: cut 1 requests on 1 connections/)
  })

  it('a second SIGTERM exits at once', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = request(`${url}/?sleep=10`)
    await sleep(150)
    const started = Date.now()
    fixture.signal('SIGTERM', pid)
    await fixture.waitFor(/SIGTERM received/)
    fixture.signal('SIGTERM', pid)
    expect(await fixture.exit).toEqual({ code: 1, signal: null })
    expect(Date.now() - started).toBeLessThan(2000)
    expect(fixture.output).toMatch(/warn: second SIGTERM: exiting now/)
    expect((await slow).error).toBe('ECONNRESET')
  })

  it('SIGINT drains like SIGTERM', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = request(`${url}/?sleep=0.5`)
    await sleep(150)
    fixture.signal('SIGINT', pid)
    expect((await slow).body).toBe(`ospid:${pid}`)
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
  })
})

/** Opens an upgraded (echo) connection; resolves once the 101 arrived. */
async function upgrade (url: string): Promise<{ socket: net.Socket, received: () => string, closed: Promise<unknown> }> {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  let data = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { data += chunk })
  socket.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
  const deadline = Date.now() + 5000
  while (!data.includes('\r\n\r\n')) {
    if (Date.now() > deadline) throw new Error(`no 101: ${JSON.stringify(data)}`)
    await sleep(20)
  }
  expect(data).toMatch(/^HTTP\/1.1 101 Switching Protocols/)
  data = ''
  return { socket, received: () => data, closed: once(socket, 'close') }
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
    fixture.signal('SIGHUP', pid)
    await fixture.ready(2)
    await sleep(200)
    // Still open and still the old generation's while the drain waits.
    echo.socket.write('still there\n')
    await sleep(100)
    expect(echo.received()).toBe('ping\nstill there\n')
    await echo.closed
    await fixture.gone(pid)
    expect(fixture.output).toMatch(new RegExp(`reload\\[${pid}\\]: warn: drainTimeout \\(600 ms\\) reached: cut 0 requests on 1 connections`))
  })
})
