import { Server, type Socket } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Server as TlsServer } from 'node:tls'

interface Connection {
  socket: Socket
  responses: Set<ServerResponse>
  lastActive: number
  idleTimer: NodeJS.Timeout | undefined
}

/** What a drain left behind when its deadline came. */
export interface Cut { requests: number, connections: number }

// An upgraded socket (WebSocket) has left the HTTP parser: Node frees `socket.parser` on upgrade.
function isUpgraded (socket: Socket): boolean {
  return Reflect.get(socket, 'parser') === null && !socket.destroyed
}

/**
 * The open connections of one server and the requests in flight on each, O(1) per request.
 * `drain()` stops accepting and lets them finish; `destroy()` cuts what is left.
 */
export class Ledger {
  readonly server: Server
  readonly #connections = new Map<Socket, Connection>()
  #requests = 0
  #draining: Promise<void> | undefined
  #resolve: (() => void) | undefined
  readonly #idleGrace: number | undefined

  constructor (server: Server, options: { idleGrace?: number | undefined } = {}) {
    this.server = server
    this.#idleGrace = options.idleGrace
    // A TLS server's requests arrive on the TLS socket, not on the TCP socket under it.
    server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', this.#onConnection)
    server.prependListener('request', this.#onRequest)
  }

  /** Open connections, upgraded ones included. */
  get connections (): number { return this.#connections.size }
  /** Requests whose response has not finished. */
  get requests (): number { return this.#requests }
  get isDraining (): boolean { return this.#draining !== undefined }

  /**
   * Stops accepting and drains: in-flight requests finish and answer with `Connection: close`, requests
   * on open keep-alive sockets are still served (with `Connection: close`), and a socket that stays idle
   * closes after the idle grace. Resolves when no connection is left. Idempotent.
   */
  drain (): Promise<void> {
    if (this.#draining !== undefined) return this.#draining
    this.#draining = new Promise((resolve) => { this.#resolve = resolve })
    // http.Server#close() also closes idle keep-alive sockets at once, and a client may be sending on
    // one right then (ECONNRESET). Closing only the listening handle leaves them to the idle grace.
    if (this.server.listening) Server.prototype.close.call(this.server)
    for (const connection of this.#connections.values()) {
      for (const res of connection.responses) closeAfter(res)
      this.#settle(connection)
    }
    this.#check()
    return this.#draining
  }

  /** Destroys every connection that is left, and says how many requests and connections that cut. */
  destroy (): Cut {
    const cut = { requests: this.#requests, connections: this.#connections.size }
    for (const connection of this.#connections.values()) connection.socket.destroy()
    return cut
  }

  /** Stops tracking this server. */
  detach (): void {
    this.server.off('connection', this.#onConnection)
    this.server.off('secureConnection', this.#onConnection)
    this.server.off('request', this.#onRequest)
  }

  #track (socket: Socket): Connection {
    let connection = this.#connections.get(socket)
    if (connection !== undefined) return connection
    connection = { socket, responses: new Set(), lastActive: Date.now(), idleTimer: undefined }
    this.#connections.set(socket, connection)
    socket.once('close', () => {
      clearTimeout(connection.idleTimer)
      this.#connections.delete(socket)
      this.#requests -= connection.responses.size
      connection.responses.clear()
      this.#check()
    })
    if (this.#draining !== undefined) this.#settle(connection)
    return connection
  }

  readonly #onConnection = (socket: Socket): void => { this.#track(socket) }

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const connection = this.#track(req.socket)
    clearTimeout(connection.idleTimer)
    connection.idleTimer = undefined
    connection.responses.add(res)
    this.#requests++
    if (this.#draining !== undefined) closeAfter(res)
    res.once('close', () => {
      if (!connection.responses.delete(res)) return
      this.#requests--
      connection.lastActive = Date.now()
      if (this.#draining !== undefined) this.#settle(connection)
    })
  }

  // While draining, a connection with nothing in flight closes after its idle grace, counted from its
  // last activity: the keep-alive time its client was promised.
  #settle (connection: Connection): void {
    if (connection.responses.size > 0 || connection.idleTimer !== undefined) return
    if (connection.socket.destroyed || isUpgraded(connection.socket)) return
    const keepAlive = (this.server as { keepAliveTimeout?: number }).keepAliveTimeout
    const grace = this.#idleGrace ?? (keepAlive !== undefined && keepAlive > 0 ? keepAlive : 5000)
    const wait = Math.max(0, connection.lastActive + grace - Date.now())
    connection.idleTimer = setTimeout(() => {
      connection.idleTimer = undefined
      if (connection.responses.size === 0) connection.socket.end()
    }, wait).unref()
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
