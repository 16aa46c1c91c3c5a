import { lookup } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import { createRequire } from 'node:module'
import type { AddressInfo, Server } from 'node:net'
import { reloader, ReloadError, trackWebSockets, type Logger, type Reloader, type ReloadOptions, type TrackedWebSocketServer } from '@reload/core'
import type { FastifyInstance, FastifyServerFactoryHandler } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Options of the plugin: those of `@reload/core`'s `reloader()`, checked there (a bad value makes
 * `register` fail with `ERR_RELOAD_INVALID_OPTION`). `logger` defaults to `app.log` when Fastify logs,
 * and `autoReady` means ready once `app.listen()` has bound every address.
 */
export type FastifyReloadOptions = ReloadOptions

declare module 'fastify' {
  interface FastifyInstance {
    /** The process's reloader: `upgrade()`, `ready()` (with `autoReady: false`), `drain()`, `state`, events. */
    reload: Reloader
  }
}

/** {@link serverFactory}'s type: an HTTP/1.1 server, or HTTPS with Fastify's `https` option. */
export interface ReloadServerFactory {
  (handler: FastifyServerFactoryHandler<http.Server>, opts: Record<string, unknown>): http.Server
  (handler: FastifyServerFactoryHandler<https.Server>, opts: Record<string, unknown>): https.Server
}

type Handler = http.RequestListener
interface Made { handler: Handler, options: Record<string, unknown> }
const made = new WeakMap<Server, Made>()

function create (handler: Handler, options: Record<string, unknown>): http.Server {
  if (options.http2 === true) {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', 'serverFactory from @reload/fastify makes HTTP/1.1 servers (http, https), instead got Fastify option http2: true')
  }
  // What Fastify 5 does without a serverFactory (getServerInstance in lib/server.js), with its options.
  const tls = options.https === true ? {} : options.https as https.ServerOptions | null | undefined
  const server = tls != null ? https.createServer(tls, handler) : http.createServer(options.http as http.ServerOptions ?? {}, handler)
  server.keepAliveTimeout = options.keepAliveTimeout as number
  server.requestTimeout = options.requestTimeout as number
  server.setTimeout(options.connectionTimeout as number)
  if ((options.maxRequestsPerSocket as number) > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket as number
  return server
}

/**
 * Fastify's `serverFactory` option, for `Fastify({ serverFactory })`: makes the server Fastify would
 * make, and lets the plugin hand over every address of `localhost` (127.0.0.1 and ::1).
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` with Fastify's `http2: true`.
 */
export const serverFactory = ((handler: Handler, options: Record<string, unknown>): http.Server => {
  const server = create(handler, options)
  made.set(server, { handler, options })
  return server
}) as ReloadServerFactory

function lookupAll (host: string): Promise<string[]> {
  return new Promise((resolve) => {
    lookup(host, { all: true }, (err, found) => { resolve(err === null ? [...new Set(found.map((a) => a.address))] : []) })
  })
}

// The line reload's default logger writes.
const stderrWarn = (msg: string): void => { process.stderr.write(`reload[${process.pid}]: warn: ${msg}\n`) }

// Fastify binds each further address of `localhost` (::1 beside 127.0.0.1) on a server it makes inside
// listen(), out of any plugin's reach, except with a serverFactory: then it binds app.server alone
// (multipleBindings in lib/server.js). So with ours, the further addresses are bound here, through
// reload, on servers the same factory makes. Reads the host Fastify gives app.server.listen(), on top of
// the wrapper reload.attach() installed: the inherited socket the latter listens on carries no host.
function bindFurther (reload: Reloader, main: Server, { handler, options }: Made): { servers: Set<Server>, settled: () => Promise<unknown>, uninstall: () => void } {
  const servers = new Set<Server>()
  const detach: Array<() => void> = []
  let addresses: Promise<string[]> | undefined
  let settled: Promise<unknown> = Promise.resolve()
  const own = Object.getOwnPropertyDescriptor(main, 'listen')
  const inner = main.listen
  const listen = function listen (this: Server, ...args: unknown[]): Server {
    const first = args[0] as Record<string, unknown> | null | undefined
    // Fastify's own condition for binding further addresses.
    const localhost = typeof first === 'object' && first !== null && first.host === 'localhost' && first.path == null
    addresses = localhost ? lookupAll('localhost') : undefined
    return Reflect.apply(inner, this, args) as Server
  }
  Object.defineProperty(main, 'listen', { configurable: true, writable: true, value: listen })

  const bind = (host: string, port: number): Promise<void> => new Promise((resolve) => {
    const server = create(handler, options)
    servers.add(server)
    server.on('upgrade', (...args: unknown[]) => main.emit('upgrade', ...args))
    // Fastify goes on without an address it cannot bind (::1 where IPv6 is off), and so does reload.
    detach.push(reload.attach(server, { optional: true }))
    server.on('error', () => { servers.delete(server) })
    server.once('error', () => resolve())
    server.once('listening', () => resolve())
    server.listen({ port, host })
  })
  const onListening = (): void => {
    const found = addresses
    const address = main.address() as AddressInfo | string | null
    addresses = undefined
    if (found === undefined || address === null || typeof address === 'string') return
    settled = found.then(async (all) => await Promise.all(all.filter((a) => a !== address.address).map(async (host) => await bind(host, address.port))))
  }
  const closeFurther = (): void => { for (const server of servers) server.close(() => {}) }
  main.on('listening', onListening)
  main.on('close', closeFurther)
  return {
    servers,
    settled: async () => await settled,
    uninstall: () => {
      main.off('listening', onListening)
      main.off('close', closeFurther)
      for (const fn of detach.splice(0)) fn()
      if (Object.getOwnPropertyDescriptor(main, 'listen')?.value !== listen) return
      if (own !== undefined) Object.defineProperty(main, 'listen', own)
      else Reflect.deleteProperty(main, 'listen')
    }
  }
}

// `fastify start` (fastify-cli) installs close-with-grace after the app's plugins are registered, with its
// default signals, SIGHUP among them, and no option to change them: a SIGHUP would run app.close() and
// exit. Under it, the plugin takes the reload signal back from that shutdown handler (one function on both
// the reload signal and SIGTERM: close-with-grace's); SIGTERM and SIGINT stay as they are.
const fastifyCli = /[/\\]fastify-cli[/\\](?:cli|start)\.js$/

function underFastifyCli (): boolean {
  const main = createRequire(import.meta.url).main as { filename?: string } | undefined
  return typeof main?.filename === 'string' && fastifyCli.test(main.filename)
}

type Listener = (...args: unknown[]) => void
const unwrap = (raw: Listener): Listener => (raw as Listener & { listener?: Listener }).listener ?? raw

/** Removes from `signal` each listener that also listens on SIGTERM (a shutdown helper's); returns how many. */
function takeSignalBack (signal: NodeJS.Signals): number {
  const onTerm = new Set((process.rawListeners('SIGTERM') as Listener[]).map(unwrap))
  let removed = 0
  for (const raw of process.rawListeners(signal) as Listener[]) {
    const listener = unwrap(raw)
    if (!onTerm.has(listener)) continue
    process.removeListener(signal, listener)
    removed++
  }
  return removed
}

const show = (a: AddressInfo): string => `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`

async function plugin (app: FastifyInstance, options: FastifyReloadOptions): Promise<void> {
  // Fastify's null logger has no level; a silent reload would hide every handover.
  const logger = 'logger' in options ? options.logger : typeof app.log.level === 'string' ? app.log : undefined
  // Fastify's further bindings start after the main one listens, so readiness waits for onListen.
  // A value that is not a boolean still goes to core, which refuses it.
  const autoReady = options.autoReady ?? true
  const given: ReloadOptions = { ...options, autoReady: typeof autoReady === 'boolean' ? false : autoReady }
  if (logger !== undefined) given.logger = logger
  const reload = reloader(given)
  const main = app.server
  const uninstall = [reload.attach(main)]
  const factory = made.get(main)
  const further = factory === undefined ? undefined : bindFurther(reload, main, factory)
  if (further !== undefined) uninstall.unshift(further.uninstall)
  const undo = (): void => { for (const fn of uninstall.splice(0)) fn() }
  let closed = false
  uninstall.push(reload.beforeExit(async () => { if (!closed) await app.close() }))
  const info = (msg: string): void => {
    if (logger === undefined) {
      if (process.env.RELOAD_LOG !== 'warn') process.stderr.write(`reload[${process.pid}]: ${msg}\n`)
    } else if (logger === console) console.info(`reload[${process.pid}]: ${msg}`)
    else if (logger !== false) (logger as Logger).info({}, msg)
  }
  const warn = (msg: string): void => {
    if (logger === undefined) stderrWarn(msg)
    else if (logger === console) console.warn(`reload[${process.pid}]: warn: ${msg}`)
    else if (logger !== false) (logger as Logger).warn({}, msg)
  }

  app.decorate('reload', reload)
  // @fastify/websocket decorates the app with its ws server, whatever the order the plugins were
  // registered in: by onReady it is there, and its clients get 1001 (Going Away) at a drain.
  app.addHook('onReady', async () => {
    const wss = (app as { websocketServer?: TrackedWebSocketServer }).websocketServer
    if (wss !== undefined && wss !== null) uninstall.push(trackWebSockets(wss))
  })
  app.addHook('onListen', async () => {
    await further?.settled()
    const signal = options.signal ?? 'SIGHUP'
    if (signal !== false && signal !== 'SIGTERM' && underFastifyCli() && takeSignalBack(signal) > 0) {
      info(`fastify start installed close-with-grace, which treats ${signal} as shutdown: ${signal} now only reloads ` +
        '(SIGTERM and SIGINT still run its app.close())')
    }
    const ours = new Set([main, ...further?.servers ?? []].map((s) => s.address()).filter((a) => a !== null && typeof a === 'object').map(show))
    for (const address of app.addresses()) {
      if (typeof address !== 'object' || ours.has(show(address))) continue
      warn(`Fastify also listens on ${show(address)}, on a server of its own that reload cannot hand over: ` +
        `after a reload nothing serves ${show(address)}. Create the app with reload's serverFactory ` +
        "(import { serverFactory } from '@reload/fastify'; Fastify({ serverFactory })), or listen on one host")
    }
    if (autoReady) await reload.ready()
  })
  app.addHook('onClose', async () => {
    closed = true
    // Detaching this app's servers; once no server is left, core hands the signals back to the app.
    undo()
  })
}

/**
 * Zero-downtime reload for a Fastify app: `await app.register(reloadPlugin, options)`, then `app.listen()`
 * as usual. Every address `app.listen()` binds is handed to the next generation on `SIGHUP` (with
 * {@link serverFactory}, both addresses of `localhost` too); a draining generation serves its open
 * connections with `Connection: close`, then runs `app.close()` (so `onClose` hooks run after the last
 * request) and exits. With Fastify's `http2: true`, sessions get a graceful GOAWAY; with
 * `@fastify/websocket`, open WebSockets get close code 1001 (Going Away), spread over `goAwayWindow`.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` (through `register`) when an option is invalid.
 */
export const reloadPlugin = fp(plugin, { fastify: '5.x', name: '@reload/fastify' })

export default reloadPlugin
