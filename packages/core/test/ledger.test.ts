import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { Held, until } from '@reload/test-helpers'
import { Ledger } from '../src/drain/ledger.js'

const servers: http.Server[] = []
afterEach(() => { for (const s of servers.splice(0)) s.closeAllConnections() })

async function serve (handler: http.RequestListener, idleGrace?: number): Promise<{ server: http.Server, ledger: Ledger, port: number }> {
  const server = http.createServer(handler)
  servers.push(server)
  const ledger = new Ledger(server, { idleGrace })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, ledger, port: (server.address() as net.AddressInfo).port }
}

/** A raw keep-alive client: one socket, requests written by hand, responses read whole. `send()` rejects
 * when the socket closes before the response is whole (the server closed it). */
function rawClient (port: number): { socket: net.Socket, send: (path: string) => Promise<string>, closed: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1')
  let buffer = ''
  let wake: (() => void) | undefined
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { buffer += chunk; wake?.() })
  socket.on('close', () => wake?.())
  // A test that never sends on it may see it reset; the outcome is in `closed` and in `send()`.
  socket.on('error', () => {})
  const closed = once(socket, 'close').then(() => undefined)
  return {
    socket,
    closed,
    async send (path) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n')
        const length = /content-length: (\d+)/i.exec(buffer)?.[1]
        if (end !== -1 && length !== undefined && buffer.length >= end + 4 + Number(length)) {
          const response = buffer.slice(0, end + 4 + Number(length))
          buffer = buffer.slice(response.length)
          return response
        }
        if (socket.destroyed) throw new Error(`the socket closed before a whole response to ${path}: ${JSON.stringify(buffer)}`)
        await new Promise<void>((resolve) => { wake = resolve })
      }
    }
  }
}

/** Answers `ok` at once, or, for `/held`, once the test releases the request it holds. */
function app (held = new Held()): http.RequestListener {
  return (req, res) => {
    if (req.url === '/held') held.here().then(() => res.end('ok'), () => {})
    else res.end('ok')
  }
}
const hello = app()

/** Resolves with the error code of a new connection to `port`, or `connected`. */
async function connect (port: number): Promise<string> {
  return await new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? '')).on('connect', () => { socket.destroy(); resolve('connected') })
  })
}

describe('Ledger', () => {
  it('counts connections and in-flight requests', async () => {
    const held = new Held()
    const { ledger, port } = await serve(app(held))
    const a = rawClient(port)
    const b = rawClient(port)
    await a.send('/')
    // b connected before a's response came back? Not necessarily: wait until the server has both.
    await until(() => ledger.connections === 2, () => `2 connections (${ledger.connections})`)
    expect(ledger.requests).toBe(0)
    const pending = b.send('/held')
    const release = await held.arrived()
    expect(ledger.requests).toBe(1)
    release()
    await pending
    expect(ledger.requests).toBe(0)
    a.socket.destroy()
    await a.closed
    // The client's close reaches the server a moment later, with no event the test can wait on.
    await until(() => ledger.connections === 1, () => `1 connection (${ledger.connections})`)
    b.socket.destroy()
  })
})

describe('ledger.drain()', () => {
  it('stops accepting, lets the in-flight request finish with Connection: close, then resolves', async () => {
    const held = new Held()
    const { ledger, port } = await serve(app(held), 5000)
    const client = rawClient(port)
    const response = client.send('/held')
    const release = await held.arrived()
    const drained = ledger.drain()
    expect(ledger.drain()).toBe(drained)
    expect(await connect(port)).toBe('ECONNREFUSED')
    release()
    expect(await response).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*Connection: close\r\n/)
    await client.closed
    // Resolves once the last connection closed, long before the 5 s idle grace.
    await drained
    expect(ledger.connections).toBe(0)
  })

  it('leaves an idle keep-alive socket open for its grace, serves one last request on it with Connection: close', async () => {
    const { ledger, port } = await serve(hello, 60_000)
    const client = rawClient(port)
    expect(await client.send('/')).toMatch(/Connection: keep-alive/)
    const drained = ledger.drain()
    // The drain has closed the listener; the idle socket is still served (send() rejects if it was closed).
    expect(await connect(port)).toBe('ECONNREFUSED')
    expect(await client.send('/')).toMatch(/Connection: close/)
    await client.closed
    // The last response closed the socket, so the drain ends now, not at the 60 s grace.
    await drained
    expect(ledger.connections).toBe(0)
  })

  it('keeps idle sockets through a server.close() made during the drain (a framework closing its servers)', async () => {
    const { server, ledger, port } = await serve(hello, 1500)
    const client = rawClient(port)
    await client.send('/')
    const drained = ledger.drain()
    // Node's own server.close() closes idle sockets at once; send() rejects if this one was closed.
    server.close()
    expect(await client.send('/')).toMatch(/Connection: close/)
    await client.closed
    await drained
    ledger.detach()
    expect(Object.hasOwn(server, 'closeIdleConnections')).toBe(false)
  })

  it('closes a socket that stays idle once its grace has passed', async () => {
    const { ledger, port } = await serve(hello, 300)
    const client = rawClient(port)
    await client.send('/')
    const started = Date.now()
    await ledger.drain()
    await client.closed
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  })

  it('uses the server keepAliveTimeout as the grace when none is given', async () => {
    const { server, ledger, port } = await serve(hello)
    server.keepAliveTimeout = 350
    const client = rawClient(port)
    await client.send('/')
    const started = Date.now()
    await ledger.drain()
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
  })

  it('ends an idle socket shortly before the deadline when its grace would outlast it', async () => {
    const { ledger, port } = await serve(hello, 60_000)
    const client = rawClient(port)
    await client.send('/')
    const started = Date.now()
    const drained = ledger.drain({ deadline: started + 1000 })
    await client.closed
    // Closed by the drain itself (which resolves once it is gone), not cut by a destroy() at the deadline.
    await drained
    expect(ledger.connections).toBe(0)
    expect(Date.now() - started).toBeGreaterThanOrEqual(850)
  })
})

describe('ledger.destroy()', () => {
  it('cuts what is left and says how many requests and connections it cut', async () => {
    const held = new Held()
    const { ledger, port } = await serve(app(held), 10_000)
    const busy = rawClient(port)
    const idle = rawClient(port)
    busy.send('/held').catch(() => {})
    await idle.send('/')
    await held.arrived()
    ledger.drain().catch(() => {})
    expect(ledger.destroy()).toEqual({ requests: 1, connections: 2 })
    await Promise.all([busy.closed, idle.closed])
  })
})
