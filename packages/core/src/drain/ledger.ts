import { Server, type Socket } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2Session, ServerHttp2Stream } from 'node:http2'
import { GoAway, goAwayGracefully } from './goaway.js'
import { closeAsIfListening, closeListenerOnly, currentResponse as current, isUpgraded, keepIdleOnClose, keepSessionsOnClose, serverKind } from '../node/internals.js'
import { later, type Later } from '../node/timers.js'
import { served } from './served.js'

interface Connection {
  socket: Socket
  /** The response the drain waits for on this socket, if any. */
  watching: ServerResponse | undefined
  idleTimer: Later | undefined
  /** The HTTP/2 session this connection carries, if it speaks HTTP/2. */
  session: Http2Session | undefined
  /** HTTP/2 streams open on the session: its requests in flight. */
  streams: number
  /** Cancels this connection's turn to go away, once the drain scheduled it. */
  goingAway: (() => void) | undefined
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
  readonly #goAway: GoAway
  #restoreClose: () => void = () => {}
  #newSession: Http2Session | undefined

  constructor (server: Server, options: { idleGrace?: number | undefined, goAway?: GoAway } = {}) {
    this.server = server
    this.#idleGrace = options.idleGrace
    this.#goAway = options.goAway ?? new GoAway()
    // An HTTP/2 server makes a connection's session in its own connection listener, which runs before
    // the ledger's: the session emitted now belongs to the connection the ledger hears of next.
    server.on('session', this.#onSession)
    // A TLS server's requests arrive on the TLS socket, not on the TCP socket under it.
    server.on(serverKind(server).tls ? 'secureConnection' : 'connection', this.#onConnection)
  }

  /** Open connections, upgraded ones included. */
  get connections (): number { return this.#connections.size }

  /** Requests whose response has not finished (HTTP/2 streams open, too). */
  get requests (): number {
    let n = 0
    for (const { socket, session, streams } of this.#connections.values()) {
      if (session !== undefined) n += streams
      else if (current(socket) !== undefined) n++
    }
    return n
  }

  /** Connections that left HTTP through an upgrade (WebSockets): only their own protocol can close them politely. */
  get upgraded (): number {
    let n = 0
    for (const socket of this.#connections.keys()) if (isUpgraded(socket)) n++
    return n
  }

  get isDraining (): boolean { return this.#draining !== undefined }

  /**
   * Stops accepting and drains: in-flight requests finish and answer with `Connection: close`, requests
   * on open keep-alive sockets are still served (with `Connection: close`), and a socket that stays idle
   * closes after the idle grace, or shortly before `deadline` (ms since the epoch) if that comes first.
   * An HTTP/2 session gets a graceful GOAWAY in two steps at its moment of the go-away window, serves the
   * streams it took, and closes. Resolves when no connection is left. Idempotent.
   */
  drain ({ deadline = Infinity }: { deadline?: number } = {}): Promise<void> {
    if (this.#draining !== undefined) return this.#draining
    this.#draining = new Promise((resolve) => { this.#resolve = resolve })
    this.#drainStart = Date.now()
    // An idle socket still open at the deadline would be cut; ending it a little before is gentler.
    this.#idleDeadline = deadline - Math.min(1000, (deadline - this.#drainStart) / 10)
    // http.Server#close() also closes idle keep-alive sockets at once, and a client may be sending on
    // one right then (ECONNRESET). Closing only the listening handle leaves them to the idle grace.
    if (this.server.listening) closeListenerOnly(this.server)
    // A server.close() during the drain (a framework closing its servers, the app's own shutdown code)
    // would run that same idle close: the ledger closes idle sockets itself now.
    const restoreIdle = keepIdleOnClose(this.server)
    const restoreSessions = keepSessionsOnClose(this.server)
    const restoreAnswer = closeAsIfListening(this.server)
    this.#restoreClose = () => { restoreAnswer(); restoreIdle(); restoreSessions() }
    this.server.prependListener('request', this.#onRequest)
    this.#goAway.begin(0)
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
    this.#goAway.reset()
    for (const connection of this.#connections.values()) {
      connection.idleTimer?.cancel()
      connection.idleTimer = undefined
      connection.goingAway?.()
      connection.goingAway = undefined
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
    this.server.off('session', this.#onSession)
    this.server.off('connection', this.#onConnection)
    this.server.off('secureConnection', this.#onConnection)
    this.server.off('request', this.#onRequest)
  }

  #track (socket: Socket, session?: Http2Session): Connection {
    let connection = this.#connections.get(socket)
    if (connection !== undefined) return connection
    connection = { socket, watching: undefined, idleTimer: undefined, session, streams: 0, goingAway: undefined }
    const tracked = connection
    this.#connections.set(socket, connection)
    socket.once('close', () => {
      tracked.idleTimer?.cancel()
      tracked.goingAway?.()
      this.#connections.delete(socket)
      this.#check()
    })
    if (this.#draining !== undefined) this.#settle(connection)
    return connection
  }

  readonly #onSession = (session: Http2Session): void => { this.#newSession = session }

  readonly #onConnection = (socket: Socket): void => {
    const session = this.#newSession
    this.#newSession = undefined
    if (this.#connections.has(socket) || session === undefined) {
      this.#track(socket)
      return
    }
    // Set before the drain can settle it: an HTTP/2 connection never gets the HTTP/1 idle close.
    const connection = this.#track(socket, session)
    session.on('stream', (stream: ServerHttp2Stream) => {
      served.stream()
      connection.streams++
      stream.once('close', () => { connection.streams-- })
    })
  }

  // Only while draining: a request on a socket that was open before the drain. HTTP/2 requests (Node's
  // compatibility API) come on streams of a session the drain already handles.
  readonly #onRequest = (req: IncomingMessage): void => {
    if (req.httpVersionMajor === 2) return
    this.#settle(this.#track(req.socket))
  }

  // While draining, a connection's response in progress answers with Connection: close and the drain
  // waits for it; a connection with none closes after its idle grace.
  #settle (connection: Connection): void {
    const { socket } = connection
    if (socket.destroyed || this.#draining === undefined) return
    if (connection.session !== undefined) {
      const session = connection.session
      connection.goingAway ??= this.#goAway.schedule(() => { goAwayGracefully(session) })
      return
    }
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

/** Tells the client not to reuse the socket, and makes Node close it once this response is written. */
export function closeAfter (res: ServerResponse): void {
  if (res.headersSent) return
  res.shouldKeepAlive = false
  if (res.hasHeader('connection')) res.setHeader('connection', 'close')
}
