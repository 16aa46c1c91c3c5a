import { Server, type AddressInfo } from 'node:net'
import { reloader, type Reloader, type ReloadOptions } from '@reload/core'
import type { FastifyInstance } from 'fastify'
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

interface Window { main: Server, take: (server: Server) => void }

// Fastify binds each further address of `localhost` (::1 beside 127.0.0.1) on an http.Server it creates
// inside listen(), out of reach until that server's own listen() call. So while an app's bindings
// start, listen() is watched on the prototype, and restored as soon as no app is starting.
const windows = new Set<Window>()
const ownListen = Server.prototype.listen

function isFurtherBinding (main: Server, server: Server, options: unknown): boolean {
  if (server === main || server.constructor !== main.constructor) return false
  const address = main.address() as AddressInfo | string | null
  const port = (options as { port?: unknown } | null)?.port
  return typeof address === 'object' && address !== null && port !== undefined && Number(port) === address.port
}

function watchedListen (this: Server, ...args: unknown[]): Server {
  // An attached server has its own listen(), which comes back here for the real bind.
  if (!Object.hasOwn(this, 'listen')) {
    const window = [...windows].find((w) => isFurtherBinding(w.main, this, args[0]))
    if (window !== undefined) {
      window.take(this)
      return this.listen(...args as [])
    }
  }
  return Reflect.apply(ownListen, this, args) as Server
}

function watch (window: Window): () => void {
  if (windows.size === 0) Server.prototype.listen = watchedListen as typeof ownListen
  windows.add(window)
  return () => {
    windows.delete(window)
    if (windows.size === 0 && Server.prototype.listen === watchedListen) Server.prototype.listen = ownListen
  }
}

async function plugin (app: FastifyInstance, options: FastifyReloadOptions): Promise<void> {
  // Fastify's null logger has no level; a silent reload would hide every handover.
  const logger = 'logger' in options ? options.logger : typeof app.log.level === 'string' ? app.log : undefined
  // Fastify's further bindings start after the main one listens, so readiness waits for onListen.
  // A value that is not a boolean still goes to core, which refuses it.
  const autoReady = options.autoReady ?? true
  const reload = reloader({ ...options, logger, autoReady: typeof autoReady === 'boolean' ? false : autoReady })
  const uninstall: Array<() => void> = []
  const undo = (): void => { for (const fn of uninstall.splice(0)) fn() }
  let unwatch: (() => void) | undefined
  const stopWatching = (): void => { unwatch?.(); unwatch = undefined }
  const window: Window = {
    main: app.server,
    // Fastify goes on without an extra address it cannot bind (::1 where IPv6 is off), and so does reload.
    take: (server) => { uninstall.push(reload.attach(server, { optional: true })) }
  }
  const onListening = (): void => { stopWatching(); unwatch = watch(window) }
  app.server.on('listening', onListening)
  uninstall.push(reload.attach(app.server), () => app.server.off('listening', onListening), stopWatching)
  let closed = false
  uninstall.push(reload.beforeExit(async () => { if (!closed) await app.close() }))

  app.decorate('reload', reload)
  app.addHook('onListen', async () => {
    stopWatching()
    if (autoReady) await reload.ready()
  })
  app.addHook('onClose', async () => {
    closed = true
    undo()
    // Closed by the app, not by a drain: nothing is left for a signal to hand over or drain.
    if (!reload.isDraining) reload.stop()
  })
}

/**
 * Zero-downtime reload for a Fastify app: `await app.register(reloadPlugin, options)`, then `app.listen()`
 * as usual. Every address `app.listen()` binds is handed to the next generation on `SIGHUP`; a draining
 * generation serves its open connections with `Connection: close`, then runs `app.close()` (so `onClose`
 * hooks run after the last request) and exits.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` (through `register`) when an option is invalid.
 */
export const reloadPlugin = fp(plugin, { fastify: '5.x', name: '@reload/fastify' })

export default reloadPlugin
