import { ReloadError } from '../errors.js'
import { reloader } from '../generation/reloader.js'
import { socketIOTracked } from '../generation/warnings.js'

/** What {@link trackSocketIO} needs of an Engine.IO connection: `io.engine`'s clients have it. */
export interface TrackedEngineSocket {
  close: (discard?: boolean) => unknown
  once: (event: 'close', listener: () => void) => unknown
}

/**
 * What {@link trackSocketIO} needs of a Socket.IO server (`new Server()` of `socket.io`): its engine's
 * connection events. The clients already connected and the transports are read from the engine as it has
 * them (`clients` and `opts`, which its typings do not publish).
 */
export interface TrackedSocketIOServer {
  readonly engine: {
    on: (event: 'connection', listener: (socket: TrackedEngineSocket) => void) => unknown
    off: (event: 'connection', listener: (socket: TrackedEngineSocket) => void) => unknown
  }
}

/**
 * Moves the clients of a Socket.IO server to the next generation when this one drains: each client's
 * Engine.IO connection is closed at a random moment within `goAwayWindow`, after what it was sent is
 * flushed (acknowledgements included), so its client reconnects at once ("transport close") and lands on
 * the next generation, spread out over the window. Works for WebSocket and long-polling clients. Returns
 * the uninstaller.
 *
 * Socket.IO's engine keeps no handle on the `http.Server` it is attached to that reload could find, so this
 * one call is needed. Under `reload run --workers` above 1, long-polling needs every request of a client
 * on one process, which workers sharing a socket cannot promise: a warning says so, and what to do.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when `io` is not a Socket.IO server.
 */
export function trackSocketIO (io: TrackedSocketIOServer): () => void {
  const engine = (io as Partial<TrackedSocketIOServer> | null)?.engine
  if (engine === undefined || engine === null || typeof engine.on !== 'function' || typeof engine.off !== 'function' || typeof Reflect.get(engine, 'clients') !== 'object') {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', 'trackSocketIO() takes a Socket.IO server (new Server() of socket.io), after it is attached to its http.Server')
  }
  const reload = reloader()
  Object.assign(globalThis, { [socketIOTracked]: true })
  const transports = (Reflect.get(engine, 'opts') as { transports?: readonly string[] } | undefined)?.transports ?? ['polling', 'websocket']
  if (reload.workers > 1 && transports.includes('polling')) {
    process.emitWarning(`Socket.IO's long-polling sends each client's requests on new connections, and the ${reload.workers} workers of reload run ` +
      'share one socket, so a client\'s polls reach workers that do not know it ("Session ID unknown"). Give the server and its clients ' +
      "transports: ['websocket'], or run reload run with --workers 1", { code: 'RELOAD_SOCKET_IO_POLLING' })
  }
  const track = (socket: TrackedEngineSocket): void => {
    const cancel = reload.goingAway(() => { socket.close() })
    socket.once('close', cancel)
  }
  const known = Reflect.get(engine, 'clients') as Record<string, TrackedEngineSocket> | Map<string, TrackedEngineSocket>
  const clients = known instanceof Map ? [...known.values()] : Object.values(known)
  for (const socket of clients) track(socket)
  engine.on('connection', track)
  return () => { engine.off('connection', track) }
}
