import { ReloadError } from '../errors.js'
import { reloader, type DrainReason } from '../generation/reloader.js'
import { later, type Later } from '../node/timers.js'

/** What {@link trackWebSockets} needs of a WebSocket: `ws`'s `WebSocket` has it. */
export interface TrackedWebSocket {
  readonly readyState: number
  close: (code?: number, reason?: string) => void
  terminate: () => void
  once: (event: 'close', listener: () => void) => unknown
}

/** What {@link trackWebSockets} needs of a WebSocket server: `ws`'s `WebSocketServer` has it. */
export interface TrackedWebSocketServer {
  /** The open clients; `undefined` with `ws`'s `clientTracking: false`. */
  readonly clients: Set<TrackedWebSocket> | undefined
  on: (event: 'connection', listener: (socket: TrackedWebSocket) => void) => unknown
  off: (event: 'connection', listener: (socket: TrackedWebSocket) => void) => unknown
}

/** Options of {@link trackWebSockets}. */
export interface TrackWebSocketsOptions {
  /**
   * The close code: 1001 (Going Away) tells clients the server is going down and a reconnect is welcome.
   * @default 1001
   */
  code?: number
  /** The close reason (at most 123 bytes). @default 'server reloading', or 'server shutting down' at a shutdown */
  reason?: string
  /**
   * How long a client has to answer the close frame before its connection is cut.
   * @default 2000
   */
  closeTimeout?: number
}

const CONNECTING = 0
const OPEN = 1

/**
 * Closes the clients of `wss` politely when this generation drains: each gets a close frame (1001, Going
 * Away) at a random moment within `goAwayWindow`, and its connection ends after the close handshake, or
 * is cut after `closeTimeout`. Clients reconnect to the next generation, spread out over the window.
 * Works with `ws` attached to a server (`new WebSocketServer({ server })`) or with `noServer`, and with
 * `@fastify/websocket` (whose `app.websocketServer` the Fastify plugin tracks by itself).
 * Returns the uninstaller.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when `wss` or an option is not what it should be.
 */
export function trackWebSockets (wss: TrackedWebSocketServer, options: TrackWebSocketsOptions = {}): () => void {
  // A WebSocket has on() and off() too, and would never see a connection: refused for what it is.
  if (wss === null || typeof wss !== 'object' || 'readyState' in wss || typeof wss.on !== 'function' || typeof wss.off !== 'function') {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', 'trackWebSockets() takes a WebSocket server (new WebSocketServer() of ws, or app.websocketServer of @fastify/websocket)')
  }
  const { code = 1001, closeTimeout = 2000 } = options
  if (!Number.isInteger(code) || code < 1000 || code > 4999) {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `trackWebSockets() code option should be a WebSocket close code (1000 to 4999, 1001 is Going Away), instead got ${String(code)}`)
  }
  if (typeof closeTimeout !== 'number' || !(closeTimeout >= 0)) {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `trackWebSockets() closeTimeout option should be a number of milliseconds >= 0, instead got ${String(closeTimeout)}`)
  }
  if (options.reason !== undefined && (typeof options.reason !== 'string' || Buffer.byteLength(options.reason) > 123)) {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', 'trackWebSockets() reason option should be a string of at most 123 bytes (a close frame has room for no more)')
  }
  const reload = reloader()
  // Clients that ws does not track (clientTracking: false) are known from its connection event.
  const seen = new Set<TrackedWebSocket>()
  const scheduled = new Map<TrackedWebSocket, () => void>()

  const goAway = (socket: TrackedWebSocket, reason: DrainReason): void => {
    if (scheduled.has(socket) || socket.readyState > OPEN) return
    const cancel = reload.goingAway(() => {
      scheduled.delete(socket)
      if (socket.readyState > OPEN) return
      socket.close(code, options.reason ?? (reason === 'upgrade' ? 'server reloading' : 'server shutting down'))
      const cut: Later = later(closeTimeout, () => { socket.terminate() })
      socket.once('close', () => { cut.cancel() })
    })
    scheduled.set(socket, cancel)
    socket.once('close', () => {
      scheduled.get(socket)?.()
      scheduled.delete(socket)
    })
  }
  const onConnection = (socket: TrackedWebSocket): void => {
    if (wss.clients === undefined) {
      seen.add(socket)
      socket.once('close', () => { seen.delete(socket) })
    }
    // A client that reaches a generation already draining goes away within what is left of the window.
    const reason = reload.drainReason
    if (reason !== undefined && socket.readyState <= OPEN) goAway(socket, reason)
  }
  const onDrain = ({ reason }: { reason: DrainReason }): void => {
    for (const socket of [...wss.clients ?? [], ...seen]) {
      if (socket.readyState === OPEN || socket.readyState === CONNECTING) goAway(socket, reason)
    }
  }
  wss.on('connection', onConnection)
  reload.on('drain', onDrain)
  return () => {
    wss.off('connection', onConnection)
    reload.off('drain', onDrain)
    for (const cancel of scheduled.values()) cancel()
    scheduled.clear()
  }
}
