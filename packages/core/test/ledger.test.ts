import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { Ledger } from '../src/ledger.js'

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

/** A raw keep-alive client: one socket, requests written by hand, responses read whole. */
function rawClient (port: number): { socket: net.Socket, send: (path: string) => Promise<string>, closed: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1')
  let buffer = ''
  let wake: (() => void) | undefined
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { buffer += chunk; wake?.() })
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
        await new Promise<void>((resolve) => { wake = resolve })
      }
    }
  }
}

const hello: http.RequestListener = (req, res) => {
  const wait = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('wait') ?? 0)
  setTimeout(() => res.end('ok'), wait)
}

describe('Ledger', () => {
  it('counts connections and in-flight requests', async () => {
    const { ledger, port } = await serve(hello)
    const a = rawClient(port)
    const b = rawClient(port)
    await a.send('/')
    expect(ledger.connections).toBe(2)
    expect(ledger.requests).toBe(0)
    const pending = b.send('/?wait=200')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(ledger.requests).toBe(1)
    await pending
    expect(ledger.requests).toBe(0)
    a.socket.destroy()
    await a.closed
    for (let i = 0; i < 100 && ledger.connections !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(ledger.connections).toBe(1)
    b.socket.destroy()
  })
})

describe('ledger.drain()', () => {
  it('stops accepting, lets the in-flight request finish with Connection: close, then resolves', async () => {
    const { ledger, port } = await serve(hello, 5000)
    const client = rawClient(port)
    const response = client.send('/?wait=300')
    await new Promise((resolve) => setTimeout(resolve, 50))
    const started = Date.now()
    const drained = ledger.drain()
    expect(ledger.drain()).toBe(drained)
    const refused = await new Promise<string>((resolve) => {
      net.connect(port, '127.0.0.1').on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? '')).on('connect', () => resolve('connected'))
    })
    expect(refused).toBe('ECONNREFUSED')
    expect(await response).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*Connection: close\r\n/)
    await client.closed
    await drained
    expect(Date.now() - started).toBeLessThan(2000)
    expect(ledger.connections).toBe(0)
  })

  it('leaves an idle keep-alive socket open for its grace, serves one last request on it with Connection: close', async () => {
    const { ledger, port } = await serve(hello, 1500)
    const client = rawClient(port)
    expect(await client.send('/')).toMatch(/Connection: keep-alive/)
    const started = Date.now()
    const drained = ledger.drain()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(client.socket.destroyed).toBe(false)
    expect(await client.send('/')).toMatch(/Connection: close/)
    await client.closed
    await drained
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('keeps idle sockets through a server.close() made during the drain (a framework closing its servers)', async () => {
    const { server, ledger, port } = await serve(hello, 1500)
    const client = rawClient(port)
    await client.send('/')
    const drained = ledger.drain()
    server.close()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(client.socket.destroyed).toBe(false)
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
    const waited = Date.now() - started
    expect(waited).toBeGreaterThanOrEqual(300)
    expect(waited).toBeLessThan(2000)
  })
  it('ends an idle socket shortly before the deadline when its grace would outlast it', async () => {
    const { ledger, port } = await serve(hello, 60_000)
    const client = rawClient(port)
    await client.send('/')
    const started = Date.now()
    await ledger.drain({ deadline: started + 1000 })
    await client.closed
    const waited = Date.now() - started
    expect(waited).toBeGreaterThanOrEqual(850)
    expect(waited).toBeLessThan(1000 + 500)
  })
})

describe('ledger.destroy()', () => {
  it('cuts what is left and says how many requests and connections it cut', async () => {
    const { ledger, port } = await serve(hello, 10_000)
    const busy = rawClient(port)
    const idle = rawClient(port)
    busy.send('/?wait=5000').catch(() => {})
    await idle.send('/')
    await new Promise((resolve) => setTimeout(resolve, 50))
    ledger.drain().catch(() => {})
    expect(ledger.destroy()).toEqual({ requests: 1, connections: 2 })
    await Promise.all([busy.closed, idle.closed])
  })
})
