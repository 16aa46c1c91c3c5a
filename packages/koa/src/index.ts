import http from 'node:http'
import type { ListenOptions, Server } from 'node:net'
import type Koa from 'koa'
import { reloader, ReloadError, type Reloader, type ReloadListenOptions, type ReloadOptions } from '@reload/core'

/** Options of {@link withReload} and {@link attach}: the options of `@reload/core`'s `reloader()`, checked there. */
export type KoaReloadOptions = ReloadOptions

declare module 'koa' {
  interface BaseContext {
    /**
     * The process's reloader, set on `app.context` by {@link withReload}: `ctx.reload.generation`,
     * `ctx.reload.isDraining`, `ctx.reload.state`.
     */
    reload: Reloader
  }
}

/** `app.listen`'s call shapes (those of `server.listen`); returns the `http.Server`. */
export interface ListenFunction {
  (port?: number, hostname?: string, backlog?: number, listeningListener?: () => void): http.Server
  (port: number, hostname?: string, listeningListener?: () => void): http.Server
  (port: number, backlog?: number, listeningListener?: () => void): http.Server
  (port: number, listeningListener?: () => void): http.Server
  (path: string, backlog?: number, listeningListener?: () => void): http.Server
  (path: string, listeningListener?: () => void): http.Server
  (options: ReloadListenOptions | ListenOptions, listeningListener?: () => void): http.Server
  (listeningListener?: () => void): http.Server
}

/** What {@link withReload} returns. */
export interface KoaReload {
  /**
   * `app.listen(...args)` through reload: creates `http.createServer(app.callback())` as Koa's own
   * `listen` does, takes the inherited listener where one matches the address, and returns the server.
   */
  listen: ListenFunction
  /**
   * Puts a server you created (HTTPS, HTTP/1 with custom options) under reload: its `listen()` then
   * takes inherited listeners and its requests are drained. Call it before `server.listen()`.
   * Returns the uninstaller.
   */
  attach: (server: Server) => () => void
  /** The process's reloader: state, generation, `ready()`, `drain()`, `beforeExit()`. */
  reloader: Reloader
}

function isKoa (app: unknown): app is Koa {
  return typeof app === 'object' && app !== null && typeof (app as Koa).callback === 'function' &&
    typeof (app as Koa).context === 'object' && (app as Koa).context !== null
}

/**
 * Wraps a Koa 2 or 3 application for zero-downtime reload: call `.listen()` where you called
 * `app.listen()`, or `.attach(server)` on a server you created. Sets `ctx.reload` (on `app.context`).
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when `app` is not a Koa application or an option is invalid.
 * @example
 * withReload(app).listen(3000, () => console.log('listening'))
 */
export function withReload (app: Koa, options?: KoaReloadOptions): KoaReload {
  if (!isKoa(app)) {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `withReload(app) expects a Koa application (new Koa()), instead got ${app === null ? 'null' : typeof app}`)
  }
  const reload = reloader(options)
  // Koa's idiom for a property every request's ctx shares (app.context.db and the like).
  app.context.reload = reload
  // What Koa 2 and 3 do in app.listen(), with the server attached before it binds.
  const listen = (...args: unknown[]): http.Server => reload.listen(http.createServer(app.callback()), ...args as [])
  return { listen: listen as ListenFunction, attach: (server) => reload.attach(server), reloader: reload }
}

/**
 * Puts a server you created (`http.createServer(app.callback())`, HTTPS) under reload: its `listen()`
 * then takes inherited listeners and its requests are drained. Call it before `server.listen()`.
 * Leaves `ctx.reload` unset: use `withReload(app).attach(server)` for that. Returns the uninstaller.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when an option is invalid.
 */
export function attach (server: Server, options?: KoaReloadOptions): () => void {
  return reloader(options).attach(server)
}
