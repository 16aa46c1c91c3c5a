import http from 'node:http'
import type { Server } from 'node:net'
import { reloader, ReloadError, type Reloader, type ReloadListenOptions, type ReloadOptions } from '@reload/core'

/** Options of {@link withReload}: the options of `@reload/core`'s `reloader()`, checked there. */
export type ExpressReloadOptions = ReloadOptions

/** What an Express application is to reload: a request listener for `http.createServer()`. */
export type ExpressApp = (req: http.IncomingMessage, res: http.ServerResponse) => unknown

/** `app.listen`'s call shapes: `(port?, host?, backlog?, callback?)`, `(path, callback?)`, `(options, callback?)`. */
export interface ListenFunction {
  (port?: number, hostname?: string, backlog?: number, callback?: (error?: Error) => void): http.Server
  (port?: number, hostname?: string, callback?: (error?: Error) => void): http.Server
  (port?: number, callback?: (error?: Error) => void): http.Server
  (path: string, callback?: (error?: Error) => void): http.Server
  (options: ReloadListenOptions, callback?: (error?: Error) => void): http.Server
  (callback?: (error?: Error) => void): http.Server
}

/** What {@link withReload} returns. */
export interface ExpressReload {
  /**
   * `app.listen(...args)` through reload: creates the `http.Server`, takes the inherited listener where
   * one matches the address, and returns the server. On Express 5 the callback also gets a listen
   * error (once), as Express 5's own `listen` does; on Express 4 an unhandled listen error is thrown.
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

// Express 4's app.listen passes the callback on untouched; Express 5 (expressjs/express#3216) wraps it
// in once() and also hands it the server's 'error'. lazyrouter() exists in Express 4 only.
function isExpress4 (app: ExpressApp): boolean {
  return typeof Reflect.get(app, 'lazyrouter') === 'function'
}

function once (fn: (...args: unknown[]) => unknown): (...args: unknown[]) => void {
  let called = false
  return function (this: unknown, ...args: unknown[]) {
    if (called) return
    called = true
    fn.apply(this, args)
  }
}

/**
 * Wraps an Express 4 or 5 application for zero-downtime reload: call `.listen()` where you called
 * `app.listen()`, or `.attach(server)` on a server you created.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when `app` is not an application or an option is invalid.
 * @example
 * withReload(app).listen(3000, () => console.log('listening'))
 */
export function withReload (app: ExpressApp, options?: ExpressReloadOptions): ExpressReload {
  if (typeof app !== 'function') {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `withReload(app) expects an Express application (what express() returns), instead got ${app === null ? 'null' : typeof app}`)
  }
  const reload = reloader(options)
  const legacy = isExpress4(app)
  const listen = (...args: unknown[]): http.Server => {
    const server = http.createServer(app)
    const last = args.at(-1)
    if (!legacy && typeof last === 'function') {
      const done = once(last as (...a: unknown[]) => unknown)
      args[args.length - 1] = done
      server.once('error', done)
    }
    return reload.listen(server, ...args as [])
  }
  return { listen: listen as ListenFunction, attach: (server) => reload.attach(server), reloader: reload }
}
