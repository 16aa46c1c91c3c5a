import type { Http2Session } from 'node:http2'

// nghttp2's NO_ERROR, written out: importing node:http2 for it costs a worker's start 7 to 12 ms.
const NO_ERROR = 0
import { later, type Later } from '../node/timers.js'

/**
 * Tells long-lived connections (HTTP/2 sessions, WebSockets, event streams) to go away once a drain
 * begins, each at its own random moment within the window, so their clients reconnect to the next
 * generation spread out instead of in one burst (Envoy's gradual drain).
 */
export class GoAway {
  readonly #waiting = new Set<() => void>()
  readonly #timers = new Map<() => void, Later>()
  #start: number | undefined
  #window = 0

  /** Whether the drain began: what registers now goes away within what is left of the window. */
  get begun (): boolean { return this.#start !== undefined }

  /** Connections told to go away, or waiting for their moment. */
  get size (): number { return this.#waiting.size + this.#timers.size }

  /**
   * Calls `close` at a random moment within the window once the drain begins (within what is left of it
   * if the drain already began). Returns the canceller, for a connection that ends by itself first.
   */
  schedule (close: () => void): () => void {
    if (this.#start === undefined) this.#waiting.add(close)
    else this.#arm(close)
    return () => {
      this.#waiting.delete(close)
      this.#timers.get(close)?.cancel()
      this.#timers.delete(close)
    }
  }

  /** Starts the window: every registered connection gets its moment. */
  begin (window: number): void {
    if (this.#start !== undefined) return
    this.#start = Date.now()
    this.#window = window
    for (const close of [...this.#waiting]) {
      this.#waiting.delete(close)
      this.#arm(close)
    }
  }

  /** The way back: the drain is off, and connections not yet told wait for the next one. */
  reset (): void {
    this.#start = undefined
    for (const [close, timer] of this.#timers) {
      timer.cancel()
      this.#waiting.add(close)
    }
    this.#timers.clear()
  }

  #arm (close: () => void): void {
    const left = Math.max(0, (this.#start ?? 0) + this.#window - Date.now())
    this.#timers.set(close, later(Math.random() * left, () => {
      this.#timers.delete(close)
      close()
    }))
  }
}

// Two GOAWAYs, as Envoy sends them: the first (last stream 2^31 - 1) tells the client to open no more
// streams here; the final one names the last stream served, and the session closes when the streams it
// took are done. Envoy's first is nghttp2's shutdown notice, which still serves the streams the client sent
// before it read it. Node's API has no such notice: after session.goaway() nghttp2 ignores every stream that
// arrives, and the final GOAWAY tells the client they were never processed (REFUSED_STREAM), so it may send
// them again, to the next generation. (Writing the notice on the socket behind nghttp2's back would serve
// them, but a write Node's HTTP/2 session did not make can abort the process: on TLS always, on TCP under
// backpressure.)
// session.close() must wait until nghttp2 has written the first GOAWAY out: until then it still hands new
// streams to Node, which refuses them from inside nghttp2's receive once the session is closed, and that
// can corrupt the heap and abort the process (nodejs/node#64113, seen here with Node 20 under load). An
// empty outbound queue says the GOAWAY went out; a queue kept busy by streamed responses gets a time limit.
export function goAwayGracefully (session: Http2Session): void {
  if (session.closed || session.destroyed) return
  session.goaway(NO_ERROR, 2 ** 31 - 1)
  const started = Date.now()
  const close = (): void => {
    if (session.closed || session.destroyed) return
    if ((session.state.outboundQueueSize ?? 0) > 0 && Date.now() - started < NOTICE_WAIT) {
      later(NOTICE_POLL, close)
      return
    }
    session.close()
  }
  later(NOTICE_POLL, close)
}

// How often, and how long at the most, the ledger looks for the first GOAWAY to have left.
const NOTICE_POLL = 10
const NOTICE_WAIT = 1000
