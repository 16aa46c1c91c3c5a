import http from 'node:http'
import type { Server } from 'node:net'
import Koa from 'koa'
import { reloader, type Reloader, type ReloadOptions } from '@reload/core'

/** Options of {@link reload}: the options of `@reload/core`'s `reloader()`, checked there. */
export type KoaReloadOptions = ReloadOptions

declare module 'koa' {
  interface ExtendableContext {
    /**
     * The process's reloader, set by the {@link reload} middleware: `ctx.reload.generation`,
     * `ctx.reload.isDraining`, `ctx.reload.state`.
     */
    reload: Reloader
  }
}

// Symbol.for, so that two copies of this package agree on which middleware is ours and patch once.
const kReload = Symbol.for('@reload/koa')

type Listen = (this: Koa, ...args: unknown[]) => Server

function isReload (fn: unknown): boolean {
  return typeof fn === 'function' && Reflect.get(fn, kReload) === true
}

// The middleware never sees the app, and Koa's listen() creates its server and binds in one call, so the
// swap to an inherited listener has to happen inside listen(). Apps without the middleware keep Koa's own.
function patchListen (proto: Koa): void {
  if (Object.hasOwn(proto, kReload)) return
  const original = proto.listen as unknown as Listen
  Object.defineProperty(proto, kReload, { value: original })
  const listen: Listen = function listen (...args) {
    if (!this.middleware.some(isReload)) return original.apply(this, args)
    // What Koa 2 and 3 do in listen(), with the server attached before it binds.
    return reloader().listen(http.createServer(this.callback()), ...args)
  }
  Object.defineProperty(proto, 'listen', { value: listen, writable: true, configurable: true })
}

/**
 * Koa middleware for zero-downtime reload: add it with `app.use(reload())` and keep calling
 * `app.listen()`, which then takes the inherited listener where one matches. Sets `ctx.reload`.
 * For a server you create yourself, also call {@link attach} before `server.listen()`.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when an option is invalid.
 * @example
 * app.use(reload())
 * app.listen(3000)
 */
export function reload (options?: KoaReloadOptions): Koa.Middleware {
  const instance = reloader(options)
  patchListen(Koa.prototype)
  const middleware: Koa.Middleware = function reloadMiddleware (ctx, next) {
    ctx.reload = instance
    return next()
  }
  Object.defineProperty(middleware, kReload, { value: true })
  return middleware
}

/**
 * Puts a server you created (`http.createServer(app.callback())`, HTTPS) under reload: its `listen()`
 * then takes inherited listeners and its requests are drained. Call it before `server.listen()`.
 * Returns the uninstaller.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when an option is invalid.
 */
export function attach (server: Server, options?: KoaReloadOptions): () => void {
  return reloader(options).attach(server)
}

export default reload
