import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { until } from '@reload/test-helpers'
import { Ledger } from '../src/drain/ledger.js'

const cleanup: Array<() => void> = []
afterEach(() => { for (const fn of cleanup.splice(0)) fn() })

async function serve (): Promise<{ server: http2.Http2Server, ledger: Ledger, url: string, release: () => void }> {
  const held: Array<() => void> = []
  const server = http2.createServer()
  server.on('stream', (stream, headers) => {
    const answer = (): void => { if (!stream.destroyed) { stream.respond({ ':status': 200 }); stream.end(String(headers[':path'])) } }
    if (headers[':path'] === '/slow') held.push(answer)
    else answer()
  })
  const ledger = new Ledger(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => { ledger.destroy(); server.close() })
  return { server, ledger, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, release: () => { for (const fn of held.splice(0)) fn() } }
}

function get (client: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = client.request({ ':path': path })
    let body = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => { body += chunk })
    stream.on('end', () => resolve(body))
    stream.on('error', reject)
    stream.end()
  })
}

describe('Ledger on an HTTP/2 server', () => {
  it('counts open streams as requests, and drains a session with two GOAWAYs after its streams finish', async () => {
    const { ledger, url, release } = await serve()
    const client = http2.connect(url)
    cleanup.push(() => client.destroy())
    const goaways: number[] = []
    client.on('goaway', (code: number, last: number) => { goaways.push(last) })
    const slow = get(client, '/slow')
    expect(await get(client, '/fast')).toBe('/fast')
    await until(() => ledger.requests === 1, 'the slow stream counted', { timeout: 5000 })
    expect(ledger.connections).toBe(1)
    let drained = false
    const drain = ledger.drain().then(() => { drained = true })
    // The first GOAWAY leaves every stream id open; the final one names the last stream served.
    await until(() => goaways.length >= 2, 'both GOAWAYs', { timeout: 5000 })
    expect(goaways[0]).toBe(2 ** 31 - 1)
    expect(goaways[1]).toBe(3)
    expect(drained).toBe(false)
    release()
    expect(await slow).toBe('/slow')
    await drain
    expect(ledger.connections).toBe(0)
  })

  it('closes an idle session at once rather than after an HTTP/1 idle grace', async () => {
    const { ledger, url } = await serve()
    const client = http2.connect(url)
    cleanup.push(() => client.destroy())
    expect(await get(client, '/fast')).toBe('/fast')
    const closed = once(client, 'close')
    const started = Date.now()
    await ledger.drain()
    // Node's keep-alive grace would be 5 s; the session closes once its GOAWAYs are out.
    expect(Date.now() - started).toBeLessThan(1000)
    await closed
  })
})

describe('Ledger on an HTTP/2 server, closed by the app during the drain', () => {
  it('still sends the first GOAWAY before the final one (Node 24 closes sessions in server.close())', async () => {
    const { server, ledger, url, release } = await serve()
    const client = http2.connect(url)
    cleanup.push(() => client.destroy())
    const goaways: number[] = []
    client.on('goaway', (code: number, last: number) => { goaways.push(last) })
    const slow = get(client, '/slow')
    await until(() => ledger.requests === 1, 'the slow stream counted', { timeout: 5000 })
    const drain = ledger.drain()
    server.close()
    await until(() => goaways.length >= 2, 'both GOAWAYs', { timeout: 5000 })
    expect(goaways.slice(0, 2)).toEqual([2 ** 31 - 1, 1])
    release()
    expect(await slow).toBe('/slow')
    await drain
    // The app's close still completes once the last session is gone.
    await until(() => !server.listening, 'the server closed', { timeout: 5000 })
  })
})
