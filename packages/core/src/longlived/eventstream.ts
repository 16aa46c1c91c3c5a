import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import type { Socket } from 'node:net'
import { ReloadError } from '../errors.js'
import { reloader } from '../generation/reloader.js'

/** Options of {@link eventStream}. */
export interface EventStreamOptions {
  /**
   * The reconnection time (ms) the client uses when the stream breaks, sent first as `retry:`. A drain
   * sends `reconnect` instead, and a client keeps the last one it got: set this to put yours back.
   */
  retry?: number
  /**
   * The reconnection time (ms) sent in the last event when a drain ends the stream: the next generation
   * already listens. Not 0, so that a shutdown with no next generation does not make a client spin.
   * @default 100
   */
  reconnect?: number
  /** Extra response headers. */
  headers?: OutgoingHttpHeaders
}

/** One event of a stream. */
export interface ServerSentEvent {
  /** The text of the event, or any other value, which is sent as JSON. */
  data: unknown
  /** The event's id: the client sends the last one back in `Last-Event-ID` when it reconnects. */
  id?: string | number
  /** The event's type (`addEventListener(type)` in a browser); `message` when left out. */
  event?: string
}

/** A `text/event-stream` response that ends itself politely when this generation drains. */
export interface EventStream {
  /** The `Last-Event-ID` the client sent: where a reconnecting client left off. */
  readonly lastEventId: string | undefined
  /** Aborted when the stream is over: the client left, `close()` was called, or a drain ended it. */
  readonly signal: AbortSignal
  /** Sends one event; returns `false` once the stream is over (or while the socket's buffer is full). */
  send: (event: ServerSentEvent) => boolean
  /** Sends a comment line, which clients ignore: a heartbeat that keeps proxies from closing an idle stream. */
  comment: (text?: string) => boolean
  /** Ends the stream. */
  close: () => void
}

type Request = IncomingMessage | Http2ServerRequest
type Response = ServerResponse | Http2ServerResponse

function field (name: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `an event's ${name} cannot hold a line break or NUL, instead got ${JSON.stringify(value)}`)
  return `${name}: ${value}\n`
}

function checkTime (name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `eventStream() ${name} option should be a whole number of milliseconds >= 0, instead got ${String(value)}`)
  }
}

/**
 * Starts a Server-Sent Events response on `res` (Node's, Express's, `reply.raw` of a hijacked Fastify
 * reply, `ctx.res` of Koa with `ctx.respond = false`, or HTTP/2's compatibility API). When this
 * generation drains, the stream gets, at its moment of `goAwayWindow`, a last `retry:` and ends: the
 * client's `EventSource` reconnects at once, to the next generation, with `Last-Event-ID` set so that
 * the app can resume where it left off ({@link EventStream.lastEventId}).
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when an option is not what it should be.
 */
export function eventStream (req: Request, res: Response, options: EventStreamOptions = {}): EventStream {
  const { retry, reconnect = 100 } = options
  checkTime('retry', retry)
  checkTime('reconnect', reconnect)
  const lastEventId = req.headers['last-event-id']
  const controller = new AbortController()
  const http1 = req.httpVersionMajor < 2
  // An HTTP/1.1 client may send its reconnect on this very socket, to this generation: once the stream
  // ends at a drain, the socket closes, and the reconnect takes a new connection to the next one.
  const socket = http1 ? (res as ServerResponse).socket as Socket | null : null
  let over = false
  const finish = (): void => {
    if (over) return
    over = true
    cancel()
    controller.abort()
  }
  const write = (text: string): boolean => {
    if (over || res.writableEnded) return false
    return (res as ServerResponse).write(text)
  }
  const end = (last = ''): void => {
    if (over) return
    if (!res.writableEnded) (res as ServerResponse).end(last)
    finish()
  }
  const cancel = reloader().goingAway(() => {
    end(`retry: ${reconnect}\n\n`)
    // In the same turn as the last chunk, so the FIN leaves with it: a client pool that got the socket back
    // in between would send another stream's reconnect on a socket about to close.
    socket?.end()
  })
  res.once('close', finish)
  ;(res as ServerResponse).writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    // nginx buffers a response unless told not to; an event that waits in a buffer is late.
    'x-accel-buffering': 'no',
    ...options.headers
  })
  write(retry === undefined ? ':\n\n' : `retry: ${retry}\n\n`)
  return {
    lastEventId: typeof lastEventId === 'string' ? lastEventId : undefined,
    signal: controller.signal,
    send ({ data, id, event }: ServerSentEvent): boolean {
      let text = ''
      if (id !== undefined) text += field('id', String(id))
      if (event !== undefined) text += field('event', event)
      const body = typeof data === 'string' ? data : JSON.stringify(data) ?? ''
      for (const line of body.split(/\r\n|\r|\n/)) text += `data: ${line}\n`
      return write(`${text}\n`)
    },
    comment (text = ''): boolean {
      return write(text.split(/\r\n|\r|\n/).map((line) => `: ${line}\n`).join('') + '\n')
    },
    close (): void { end() }
  }
}
