import { Server, type Socket } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Server as TlsServer } from 'node:tls'
import { currentResponse as current, isUpgraded, keepIdleOnClose } from './internals.js'
import { later, type Later } from './timers.js'

interface Connection {
  socket: Socket
  /** The response the drain waits for on this socket, if any. */
  watching: ServerResponse | undefined
  idleTimer: Later | undefined
}

/** What a drain left behind when its deadline came. */
export interface Cut { requests: number, connections: number }

/**
 * The open connections of one server and the requests in flight on each. Costs one listener per
 * connection and nothing per request while serving; `drain()` stops accepting and lets them finish,
 * `destroy()` cuts what is left.
 */
export class Ledger {
  readonly server: Server
  readonly #connections = new Map<Socket, Connection>()
  #draining: Promise<void> | undefined
  #drainStart = 0
  #idleDeadline = Infinity
  #resolve: (() => void) | undefined
  readonly #idleGrace: number | undefined
  #restoreClose: () => void = () => {}

  constructor (server: Server, options: { idleGrace?: number | undefined } = {}) {
    this.server = server
    this.#idleGrace = options.idleGrace
    // A TLS server's requests arrive on the TLS socket, not on the TCP socket under it.
    server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', this.#onConnection)
  }

  /** Open connections, upgraded ones included. */
  get connections (): number { return this.#connections.size }

  /** Requests whose response has not finished. */
  get requests (): number {
    let n = 0
    for (const socket of this.#connections.keys()) if (current(socket) !== undefined) n++
    return n
  }

  get isDraining (): boolean { return this.#draining !== undefined }

  /**
   * Stops accepting and drains: in-flight requests finish and answer with `Connection: close`, requests
   * on open keep-alive sockets are still served (with `Connection: close`), and a socket that stays idle
   * closes after the idle grace, or shortly before `deadline` (ms since the epoch) if that comes first.
   * Resolves when no connection is left. Idempotent.
   */
  drain ({ deadline = Infinity }: { deadline?: number } = {}): Promise<void> {
    if (this.#draining !== undefined) return this.#draining
    this.#draining = new Promise((resolve) => { this.#resolve = resolve })
    this.#drainStart = Date.now()
    // An idle socket still open at the deadline would be cut; ending it a little before is gentler.
    this.#idleDeadline = deadline - Math.min(1000, (deadline - this.#drainStart) / 10)
    // http.Server#close() also closes idle keep-alive sockets at once, and a client may be sending on
    // one right then (ECONNRESET). Closing only the listening handle leaves them to the idle grace.
    if (this.server.listening) Server.prototype.close.call(this.server)
    // A server.close() during the drain (a framework closing its servers, the app's own shutdown code)
    // would run that same idle close: the ledger closes idle sockets itself now.
    this.#restoreClose = keepIdleOnClose(this.server)
    this.server.prependListener('request', this.#onRequest)
    for (const connection of this.#connections.values()) this.#settle(connection)
    this.#check()
    return this.#draining
  }

  /** Ends a drain: serving as before (the way back). Responses already told `Connection: close` keep it. */
  resume (): void {
    if (this.#draining === undefined) return
    this.#draining = undefined
    this.#resolve = undefined
    this.#restoreClose()
    this.#restoreClose = () => {}
    this.server.off('request', this.#onRequest)
    for (const connection of this.#connections.values()) {
      connection.idleTimer?.cancel()
      connection.idleTimer = undefined
    }
  }

  /** Destroys every connection that is left, and says how many requests and connections that cut. */
  destroy (): Cut {
    const cut = { requests: this.requests, connections: this.#connections.size }
    for (const connection of this.#connections.values()) connection.socket.destroy()
    return cut
  }

  /** Stops tracking this server. */
  detach (): void {
    this.#restoreClose()
    this.server.off('connection', this.#onConnection)
    this.server.off('secureConnection', this.#onConnection)
    this.server.off('request', this.#onRequest)
  }

  #track (socket: Socket): Connection {
    let connection = this.#connections.get(socket)
    if (connection !== undefined) return connection
    connection = { socket, watching: undefined, idleTimer: undefined }
    const tracked = connection
    this.#connections.set(socket, connection)
    socket.once('close', () => {
      tracked.idleTimer?.cancel()
      this.#connections.delete(socket)
      this.#check()
    })
    if (this.#draining !== undefined) this.#settle(connection)
    return connection
  }

  readonly #onConnection = (socket: Socket): void => { this.#track(socket) }

  // Only while draining: a request on a socket that was open before the drain.
  readonly #onRequest = (req: IncomingMessage): void => { this.#settle(this.#track(req.socket)) }

  // While draining, a connection's response in progress answers with Connection: close and the drain
  // waits for it; a connection with none closes after its idle grace.
  #settle (connection: Connection): void {
    const { socket } = connection
    if (socket.destroyed || this.#draining === undefined) return
    const res = current(socket)
    if (res !== undefined) {
      connection.idleTimer?.cancel()
      connection.idleTimer = undefined
      closeAfter(res)
      if (connection.watching === res) return
      connection.watching = res
      res.once('close', () => {
        connection.watching = undefined
        this.#settle(connection)
      })
      return
    }
    if (connection.idleTimer !== undefined || isUpgraded(socket)) return
    const keepAlive = (this.server as { keepAliveTimeout?: number }).keepAliveTimeout
    const grace = this.#idleGrace ?? (keepAlive !== undefined && keepAlive > 0 ? keepAlive : 5000)
    // Counted from the drain's start: never sooner than the keep-alive time the client was promised.
    const wait = Math.max(0, Math.min(this.#drainStart + grace, this.#idleDeadline) - Date.now())
    connection.idleTimer = later(wait, () => {
      connection.idleTimer = undefined
      if (current(socket) === undefined) socket.end()
      else this.#settle(connection)
    })
  }

  #check (): void {
    if (this.#draining !== undefined && this.#connections.size === 0) this.#resolve?.()
  }
}

// Tells the client not to reuse the socket, and makes Node close it once this response is written.
function closeAfter (res: ServerResponse): void {
  if (res.headersSent) return
  res.shouldKeepAlive = false
  if (res.hasHeader('connection')) res.setHeader('connection', 'close')
}
