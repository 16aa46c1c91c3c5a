import { once } from 'node:events'
import http from 'node:http'
import Koa from 'koa'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { inFlight } from '../../../test/helpers/in-flight.js'
import { reloader, type Reloader } from '@reload/core'
import reloadDefault, { attach, reload } from '../src/index.js'

// The reloader is one per process: no signal handlers, no exit, no log lines in the test runner.
const options = { signal: false, shutdownSignals: false, exit: false, logger: false } as const
const servers: http.Server[] = []

// An app whose one route waits until released, so a test can look at the ledger mid-request.
function slowApp (withReload: boolean): { app: Koa, release: () => void, seen: () => Reloader | undefined } {
  const app = new Koa()
  if (withReload) app.use(reload(options))
  let release = (): void => {}
  let seen: Reloader | undefined
  app.use(async (ctx) => {
    seen = ctx.reload
    await new Promise<void>((resolve) => { release = resolve })
    ctx.body = 'done'
  })
  return { app, release: () => release(), seen: () => seen }
}

async function listening (server: http.Server): Promise<http.Server> {
  servers.push(server)
  if (!server.listening) await once(server, 'listening')
  return server
}

describe('app.use(reload())', () => {
  afterEach(() => { for (const server of servers.splice(0)) server.close() })
  afterAll(() => reloader().stop())

  it('throws ERR_RELOAD_INVALID_OPTION for an invalid option', () => {
    expect(() => reload({ readyTimeout: 0 })).toThrow(expect.objectContaining({
      name: 'ReloadError',
      code: 'ERR_RELOAD_INVALID_OPTION',
      message: 'readyTimeout option should be a number of milliseconds >= 1, instead got 0'
    }))
  })

  it('app.listen() of an app with the middleware listens through reload, which tracks its requests; ctx.reload is the reloader', async () => {
    const { app, release, seen } = slowApp(true)
    const server = await listening(app.listen(0, '127.0.0.1'))
    expect(server).toBeInstanceOf(http.Server)
    expect(await inFlight(server, release, () => reloader().requests)).toBe(1)
    expect(seen()).toBe(reloader())
  })

  it('app.listen() of an app without the middleware is Koa\'s own: its requests are not tracked, ctx.reload is unset', async () => {
    const { app, release, seen } = slowApp(false)
    const server = await listening(app.listen(0, '127.0.0.1'))
    expect(await inFlight(server, release, () => reloader().requests)).toBe(0)
    expect(seen()).toBe(undefined)
  })

  it('patches Koa.prototype.listen once, however many times reload() is called', () => {
    reload(options)
    const listen = Koa.prototype.listen
    reload(options)
    expect(Koa.prototype.listen).toBe(listen)
    expect(Object.hasOwn(Koa.prototype, Symbol.for('@reload/koa'))).toBe(true)
    expect(reloadDefault).toBe(reload)
  })

  it('passes the listen callback on, called once with no argument', async () => {
    const app = new Koa().use(reload(options))
    const calls: unknown[][] = []
    await listening(app.listen(0, '127.0.0.1', (...args: unknown[]) => { calls.push(args) }))
    await new Promise((resolve) => setImmediate(resolve))
    expect(calls).toEqual([[]])
  })

  it('attach(server) tracks a server made from app.callback(), and its uninstaller stops that', async () => {
    const { app, release, seen } = slowApp(true)
    const server = http.createServer(app.callback())
    const detach = attach(server, options)
    await listening(server.listen(0, '127.0.0.1'))
    expect(await inFlight(server, release, () => reloader().requests)).toBe(1)
    expect(seen()).toBe(reloader())
    detach()
    expect(await inFlight(server, release, () => reloader().requests)).toBe(0)
  })
})
