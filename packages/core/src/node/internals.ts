import http from 'node:http'
import net from 'node:net'
import util from 'node:util'
import { ReloadError } from '../errors.js'

// Every Node.js internal reload relies on lives here, and `checkInternals()` proves each one at start-up.
// If a Node release changes one, the ledger would count 0 requests and a drain would end early, in
// silence; failing loudly at start-up is better.

/** The response Node is writing on `socket` (`_httpMessage`, null between requests), if any. */
export function currentResponse (socket: net.Socket): http.ServerResponse | undefined {
  return (Reflect.get(socket, '_httpMessage') as http.ServerResponse | null | undefined) ?? undefined
}

/** Whether `socket` left the HTTP parser through an upgrade (WebSocket): Node frees `socket.parser` then. */
export function isUpgraded (socket: net.Socket): boolean {
  return Reflect.get(socket, 'parser') === null && !socket.destroyed
}

/** The listening fd of `server`, or -1 where the platform has none (Windows). */
export function listeningFd (server: net.Server): number {
  const handle = Reflect.get(server, '_handle') as { fd?: unknown } | null | undefined
  return typeof handle?.fd === 'number' ? handle.fd : -1
}

/**
 * Makes `server.address()` report `path`: Node reads `_pipeName` for a unix socket, and a server opened
 * from an inherited fd (or bound under a temporary name) has none of its own.
 */
export function setPipeName (server: net.Server, path: string): void {
  Reflect.set(server, '_pipeName', path)
}

/** The libuv handle a socket wraps: what `process.send()` passes to another process as a raw handle. */
export function handleOf (socket: net.Socket): object {
  return Reflect.get(socket, '_handle') as object
}

/** The fd of a raw handle received from another process. */
export function handleFd (handle: object): number {
  return Reflect.get(handle, 'fd') as number
}

/** Whether a raw handle is a TCP one, which `server.listen(handle)` takes as it is (a unix one it re-opens by fd). */
export function isTcpHandle (handle: object): boolean {
  return handle.constructor.name === 'TCP'
}

/** Whether a `listen()` argument is a handle or wraps one, which Node listens on as given. */
export function isHandle (value: object): boolean {
  return '_handle' in value
}

/**
 * Keeps `server.close()` from closing idle keep-alive sockets at once: since Node 19 it calls the
 * instance's `closeIdleConnections()` first. Returns the undo.
 */
export function keepIdleOnClose (server: net.Server): () => void {
  if (typeof Reflect.get(server, 'closeIdleConnections') !== 'function') return () => {}
  Object.defineProperty(server, 'closeIdleConnections', { configurable: true, writable: true, value: () => {} })
  return () => { Reflect.deleteProperty(server, 'closeIdleConnections') }
}

/**
 * Closes `server`'s listening handle only: `net.Server`'s own close, which `http.Server#close()` extends
 * with closing idle connections (Node 19+) and `Http2Server#close()` with closing every session (Node 24).
 */
export function closeListenerOnly (server: net.Server): void {
  net.Server.prototype.close.call(server)
}

// Since Node 24, Http2Server#close() also closes every session at once, with one final GOAWAY that refuses
// the streams a client sent meanwhile. During the drain the ledger closes sessions itself, each in two steps
// at its moment of the window: a server.close() then (the app's own shutdown code) closes the listener only.
// An HTTP/2 server is told apart by its prototype's own `updateSettings`.
/** Keeps an HTTP/2 server's `close()` from closing its sessions; a no-op for other servers. Returns the undo. */
export function keepSessionsOnClose (server: net.Server): () => void {
  if (!serverKind(server).http2 || !Object.hasOwn(Object.getPrototypeOf(server) as object, 'close')) return () => {}
  Object.defineProperty(server, 'close', {
    configurable: true,
    writable: true,
    value: function close (this: net.Server, ...args: unknown[]) { return Reflect.apply(net.Server.prototype.close, this, args) as net.Server }
  })
  return () => { Reflect.deleteProperty(server, 'close') }
}

/**
 * Makes the app's own `server.close(cb)` after the drain closed the listener answer as it would have
 * without reload: `cb()` once the last connection is gone, where Node would call `cb` with
 * ERR_SERVER_NOT_RUNNING (the listener is already closed). Frameworks' shutdown code (Next.js) calls it in
 * its SIGTERM listener and prints that error. Returns the undo.
 */
export function closeAsIfListening (server: net.Server): () => void {
  const own = Object.getOwnPropertyDescriptor(server, 'close')
  const inner = (own?.value ?? Reflect.get(server, 'close')) as (this: net.Server, cb?: (err?: Error) => void) => net.Server
  Object.defineProperty(server, 'close', {
    configurable: true,
    writable: true,
    value: function close (this: net.Server, cb?: (err?: Error) => void) {
      if (typeof cb !== 'function' || this.listening) return Reflect.apply(inner, this, [cb]) as net.Server
      this.once('close', () => cb())
      return Reflect.apply(inner, this, []) as net.Server
    }
  })
  return () => {
    if (own !== undefined) Object.defineProperty(server, 'close', own)
    else Reflect.deleteProperty(server, 'close')
  }
}

// A keeper that balances accepts every connection itself and hands it to a worker over Node's IPC channel,
// as Node's own cluster module does: the worker's server is set up on the inherited listener as if it
// listened (address(), 'listening', close()) but never accepts on it, and takes each connection it is
// handed through the very function that takes an accepted one. Messages whose `cmd` starts with `NODE_`
// are Node's internal ones: they never reach the app's own `process.on('message')`.

/** What a handed-off connection's messages carry: Node delivers `NODE_`-prefixed ones as `internalMessage`. */
export interface InternalMessage { cmd: string, [field: string]: unknown }

/** The end of the IPC channel a keeper or a worker speaks on: the ChildProcess, or `process`. */
export interface Channel {
  send?: (message: InternalMessage, handle?: object, options?: object, callback?: (err: Error | null) => void) => boolean
  on: (event: 'internalMessage', listener: (message: InternalMessage, handle: object | undefined) => void) => unknown
  listenerCount: (event: string) => number
}

/** Whether `channel` has Node's IPC channel, with its internal messages working as assumed. */
export function hasInternalChannel (channel: Channel): boolean {
  // Node's own IPC set-up listens for its handle acknowledgements on `internalMessage`.
  return typeof channel.send === 'function' && channel.listenerCount('internalMessage') > 0
}

/** Sends `message` on Node's IPC channel, with a raw handle; `done` is told whether it was written. */
export function sendInternal (channel: Channel, message: InternalMessage, handle: object | undefined, done: (err: Error | null) => void): void {
  try {
    (channel.send as NonNullable<Channel['send']>)(message, handle, {}, done)
  } catch (err) {
    done(err as Error)
  }
}

/** Listens for Node's internal messages on `channel` (only those whose `cmd` starts with `prefix`). */
export function onInternal (channel: Channel, prefix: string, listener: (message: InternalMessage, handle: object | undefined) => void): void {
  channel.on('internalMessage', (message, handle) => {
    if (typeof message?.cmd === 'string' && message.cmd.startsWith(prefix)) listener(message, handle)
  })
}

/** The IPC channel's hold on the event loop: a server that only takes handed connections keeps the process alive through it. */
export function holdChannel (hold: boolean): void {
  const channel = process.channel as { ref?: () => void, unref?: () => void } | undefined
  if (hold) channel?.ref?.()
  else channel?.unref?.()
}

/**
 * Sets `server` up on the listening socket at `fd` without accepting on it: `address()`, `'listening'` and
 * `close()` behave as after `listen({ fd })`, and connections come only through {@link takeConnection}.
 * Returns false (having changed nothing) when Node cannot open a handle on `fd`.
 */
export function listenWithoutAccepting (server: net.Server, fd: number, backlog: number | undefined): boolean {
  const create = Reflect.get(net, '_createServerHandle') as CreateServerHandle
  const handle = create(null as unknown as string, 0, -1, fd)
  if (typeof handle === 'number') return false
  Object.defineProperty(handle, 'listen', { configurable: true, value: () => 0 })
  Reflect.set(server, '_handle', handle)
  const setUp = Reflect.get(server, '_listen2') as (...args: unknown[]) => void
  Reflect.apply(setUp, server, [null, -1, -1, backlog ?? 511, fd])
  return true
}

/** Gives `server` a connection accepted elsewhere, as if it had accepted it: Node's own `onconnection` makes the socket. */
export function takeConnection (server: net.Server, handle: object): boolean {
  const own = Reflect.get(server, '_handle') as { onconnection?: (err: number, handle: object) => void } | null
  if (own === null || typeof own.onconnection !== 'function') return false
  Reflect.apply(own.onconnection, own, [0, handle])
  return true
}

/** Closes a raw handle received from another process without reading from it. */
export function closeHandle (handle: object): void {
  const close = Reflect.get(handle, 'close') as ((cb?: () => void) => void) | undefined
  close?.call(handle)
}

/**
 * What kind of server the ledger attaches to: an HTTP/2 one (its sessions drain in two GOAWAYs), a TLS one
 * (its requests come on the TLS socket). Told without loading node:http2 or node:tls, which would cost every
 * worker's start 7 to 12 ms each; so the HTTP/2 rule is checked here, on a server the app made, not at start-up.
 * @throws {ReloadError} `ERR_RELOAD_NODE_INTERNALS` when an HTTP/2 server no longer looks like one.
 */
export function serverKind (server: net.Server): { http2: boolean, tls: boolean } {
  const http2 = Object.hasOwn(Object.getPrototypeOf(server) as object, 'updateSettings')
  if (!http2 && /^Http2(Secure)?Server$/.test(server.constructor.name)) fail('how an HTTP/2 server is told apart (Http2Server.prototype.updateSettings)')
  // tls.Server's own method, which every TLS server (https, HTTP/2 secure) inherits.
  return { http2, tls: typeof Reflect.get(server, 'setSecureContext') === 'function' }
}

/** A bound socket no process listens on yet, held by `reload run`'s keeper for its whole life. */
export interface BoundSocket {
  fd: number
  /** The port bound (the one the kernel chose, for port 0); -1 for a unix socket. */
  port: number
  close: () => void
}

interface ServerHandle { fd: number, close: () => void, getsockname?: (out: { port?: number }) => number }
type CreateServerHandle = (address: string, port: number, addressType: number, fd?: number, flags?: number) => ServerHandle | number

/**
 * Binds `host:port` (addressType 4 or 6), or the unix socket `path` (port -1), without listening, so no
 * connection is accepted here: the keeper's workers listen on it. Node's own `cluster` primary binds its
 * shared handles with this very function (`net._createServerHandle`). Throws an `Error` with the errno's
 * `code` when the bind fails.
 */
export function bindSocket (address: string, port: number, addressType: 4 | 6 | -1): BoundSocket {
  const create = Reflect.get(net, '_createServerHandle') as CreateServerHandle | undefined
  if (typeof create !== 'function') fail('net._createServerHandle, with which the keeper binds without accepting')
  const handle = create(address, port, addressType)
  if (typeof handle === 'number') {
    const code = util.getSystemErrorName(handle)
    throw Object.assign(new Error(`${code}: cannot bind ${port === -1 ? address : `${address}:${port}`}`), { code, errno: handle })
  }
  if (typeof handle.fd !== 'number' || handle.fd < 0) fail('the fd of a bound server handle (handle.fd)')
  let bound = port
  if (port !== -1) {
    if (typeof handle.getsockname !== 'function') fail('how a bound TCP handle tells its port (handle.getsockname)')
    const out: { port?: number } = {}
    const err = handle.getsockname(out)
    // libuv keeps a TCP bind's EADDRINUSE for listen(), which never comes here: a socket left unbound says it.
    if (err !== 0 || out.port === undefined || out.port === 0 || (port !== 0 && out.port !== port)) {
      handle.close()
      const code = 'EADDRINUSE'
      throw Object.assign(new Error(`${code}: cannot bind ${address}:${port}`), { code })
    }
    bound = out.port
  }
  return { fd: handle.fd, port: bound, close: () => handle.close() }
}

function fail (what: string): never {
  throw new ReloadError('ERR_RELOAD_NODE_INTERNALS',
    `Node.js ${process.version} changed ${what}, which reload relies on to count requests and hand sockets over; ` +
    'use a Node.js version this @reload/core release supports, or upgrade @reload/core')
}

let checked = false

/** This Node, as a parent names it to a child: the same version and executable have the same internals. */
function thisNode (): string { return `${process.version} ${process.execPath}` }

/** What tells a child started with the same Node that these internals were checked: undefined until they were. */
export function checkedNode (): string | undefined { return checked ? thisNode() : undefined }

/**
 * Proves, without I/O, that this Node.js still behaves the way the functions above assume, unless
 * `vouched` (the parent's checkedNode()) names this very Node: the check makes sockets, a response and
 * servers, which cost a worker's start 3 to 5 ms before its first listen, and a keeper checked them already.
 * @throws {ReloadError} `ERR_RELOAD_NODE_INTERNALS`, naming what changed.
 */
export function checkInternals (vouched?: string): void {
  if (checked) return
  if (vouched !== undefined && vouched === thisNode()) {
    checked = true
    return
  }
  const socket = new net.Socket()
  try {
    const res = new http.ServerResponse(new http.IncomingMessage(socket))
    res.assignSocket(socket)
    if (currentResponse(socket) !== res) fail('where a socket keeps its response in progress (socket._httpMessage)')
    res.detachSocket(socket)
    if (currentResponse(socket) !== undefined) fail('how a socket forgets a finished response (socket._httpMessage)')
  } finally {
    socket.destroy()
  }
  const probe = new net.Socket()
  try {
    http.createServer().emit('connection', probe)
    const parser = Reflect.get(probe, 'parser') as unknown
    if (parser === null || typeof parser !== 'object') fail('where an HTTP connection keeps its parser (socket.parser)')
  } finally {
    probe.destroy()
  }
  const server = http.createServer()
  if (!Object.hasOwn(server, '_handle')) fail('where a server keeps its handle (server._handle)')
  if (!net.Server.prototype.address.toString().includes('_pipeName')) fail('how server.address() reports a unix socket path (server._pipeName)')
  let idleClosed = false
  Object.defineProperty(server, 'closeIdleConnections', { configurable: true, value: () => { idleClosed = true } })
  server.close(() => {})
  if (!idleClosed && process.versions.node.split('.').map(Number)[0] as number >= 19) {
    fail('how http.Server#close() closes idle connections (closeIdleConnections)')
  }
  // net.Server's own close must leave the connections alone: the drain closes them itself.
  let netClosedIdle = false
  const plain = http.createServer()
  Object.defineProperty(plain, 'closeIdleConnections', { configurable: true, value: () => { netClosedIdle = true } })
  closeListenerOnly(plain)
  if (netClosedIdle) fail('that net.Server#close() closes the listening handle only')
  // How a keeper's worker takes handed connections (listenWithoutAccepting, takeConnection).
  if (typeof Reflect.get(net, '_createServerHandle') !== 'function') fail('net._createServerHandle, with which a worker opens its inherited listener')
  if (typeof Reflect.get(net.Server.prototype, '_listen2') !== 'function') fail('how a server is set up on a handle it already has (net.Server#_listen2)')
  checked = true
}
