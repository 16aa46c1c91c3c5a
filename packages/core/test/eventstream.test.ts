import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { until } from '@reload/test-helpers'
import { eventStream, type EventStream } from '../src/longlived/eventstream.js'

const servers: http.Server[] = []
afterEach(() => { for (const s of servers.splice(0)) { s.closeAllConnections(); s.close() } })

async function serve (use: (stream: EventStream) => void, options?: Parameters<typeof eventStream>[2]): Promise<number> {
  const server = http.createServer((req, res) => { use(eventStream(req, res, options)) })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

/** Reads a stream until `done(text)`; resolves with the headers and the text. */
function read (port: number, headers: http.OutgoingHttpHeaders, done: (text: string) => boolean): Promise<{ res: http.IncomingMessage, text: string, req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events', headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        if (done(text)) resolve({ res, text, req })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

describe('eventStream()', () => {
  it('sends the headers an event stream needs, then events in the wire format', async () => {
    const port = await serve((stream) => {
      stream.send({ id: 7, event: 'tick', data: 'line one\nline two' })
      stream.send({ data: { n: 1 } })
      stream.comment('still here')
    }, { retry: 3000 })
    const { res, text, req } = await read(port, {}, (t) => t.includes('still here'))
    req.destroy()
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(res.headers['cache-control']).toBe('no-cache, no-transform')
    expect(res.headers['x-accel-buffering']).toBe('no')
    expect(text).toBe('retry: 3000\n\nid: 7\nevent: tick\ndata: line one\ndata: line two\n\ndata: {"n":1}\n\n: still here\n\n')
  })

  it('gives the Last-Event-ID the client sent back', async () => {
    let seen: string | undefined = 'none'
    const port = await serve((stream) => { seen = stream.lastEventId; stream.send({ data: 'x' }) })
    const { req } = await read(port, { 'last-event-id': '41' }, (t) => t.includes('data: x'))
    req.destroy()
    expect(seen).toBe('41')
  })

  it('aborts its signal when the client leaves, and sends nothing after', async () => {
    let stream: EventStream | undefined
    const port = await serve((s) => { stream = s })
    const { req } = await read(port, {}, (t) => t.startsWith(':'))
    expect(stream?.signal.aborted).toBe(false)
    req.destroy()
    await until(() => stream?.signal.aborted === true, 'the stream over once its client left', { timeout: 5000 })
    expect(stream?.send({ data: 'late' })).toBe(false)
  })

  it('refuses an id or event type with a line break, which would end the event early', async () => {
    const errors: unknown[] = []
    const port = await serve((stream) => {
      for (const event of [{ id: '1\n2', data: 'x' }, { event: 'a\rb', data: 'x' }]) {
        try { stream.send(event) } catch (err) { errors.push(err) }
      }
      stream.close()
    })
    const { text } = await read(port, {}, () => true)
    expect(text.startsWith(':')).toBe(true)
    expect(errors).toHaveLength(2)
    expect(errors[0]).toMatchObject({ code: 'ERR_RELOAD_INVALID_OPTION', message: 'an event\'s id cannot hold a line break or NUL, instead got "1\\n2"' })
  })

  it('refuses a retry or reconnect time that is not whole milliseconds', () => {
    const res = new http.ServerResponse(new http.IncomingMessage(null as never))
    const req = new http.IncomingMessage(null as never)
    expect(() => eventStream(req, res, { reconnect: -1 })).toThrow(/reconnect option should be a whole number of milliseconds >= 0, instead got -1/)
    expect(() => eventStream(req, res, { retry: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION' }))
  })
})
