import { once } from 'node:events'
import http from 'node:http'
import { createRequire } from 'node:module'
import Koa from 'koa'
import { afterAll, afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import { Held, inFlight } from '@reload/test-helpers'
import { reloader, type Reloader } from '@reload/core'
import { attach, withReload } from '../src/index.js'

// The reloader is one per process: no signal handlers, no exit, no log lines in the test runner.
const options = { signal: false, shutdownSignals: false, exit: false, logger: false } as const
const Koa2 = createRequire(import.meta.url)('koa2') as typeof Koa
const majors = [['Koa 3', Koa], ['Koa 2', Koa2]] as const
const servers: http.Server[] = []

// An app whose one middleware holds each request until the test releases it, and records ctx.reload.
function heldApp (App: typeof Koa): { app: Koa, held: Held, seen: () => unknown } {
  const app = new App()
  const held = new Held()
  let seen: unknown
  app.use(async (ctx) => {
    seen = ctx.reload
    await held.here()
    ctx.body = 'done'
  })
  return { app, held, seen: () => seen }
}

async function listening (server: http.Server): Promise<http.Server> {
  servers.push(server)
  if (!server.listening) await once(server, 'listening')
  return server
}

describe('withReload(app)', () => {
  afterEach(() => { for (const server of servers.splice(0)) server.close() })
  afterAll(() => { reloader().detach() })

  it('throws ERR_RELOAD_INVALID_OPTION for an invalid option or a value that is not a Koa application', () => {
    expect(() => withReload(new Koa(), { readyTimeout: 0 })).toThrow(expect.objectContaining({
      name: 'ReloadError',
      code: 'ERR_RELOAD_INVALID_OPTION',
      message: expect.stringMatching(/^readyTimeout option should be a number of milliseconds >= 1\b.*, instead got 0$/)
    }))
    expect(() => withReload(null as unknown as Koa, options)).toThrow(expect.objectContaining({
      code: 'ERR_RELOAD_INVALID_OPTION',
      message: 'withReload(app) expects a Koa application (new Koa()), instead got null'
    }))
    expect(() => withReload((() => {}) as unknown as Koa, options)).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION' }))
  })

  for (const [name, App] of majors) {
    it(`${name}: listen() listens through reload, which tracks its requests; ctx.reload is the reloader`, async () => {
      const { app, held, seen } = heldApp(App)
      const reload = withReload(app, options)
      expect(reload.reloader).toBe(reloader())
      const server = await listening(reload.listen(0, '127.0.0.1'))
      expect(server).toBeInstanceOf(http.Server)
      expect(await inFlight(server, held, () => reloader().requests)).toBe(1)
      expect(seen()).toBe(reloader())
    })

    it(`${name}: leaves Koa.prototype.listen and app.listen untouched`, () => {
      const listen = App.prototype.listen
      const app = new App()
      withReload(app, options)
      expect(App.prototype.listen).toBe(listen)
      expect(Object.hasOwn(app, 'listen')).toBe(false)
      expect(Object.getOwnPropertySymbols(App.prototype)).toEqual([])
    })
  }

  it("app.listen() stays Koa's own: its requests are not tracked", async () => {
    const { app, held } = heldApp(Koa)
    withReload(app, options)
    const server = await listening(app.listen(0, '127.0.0.1'))
    expect(await inFlight(server, held, () => reloader().requests)).toBe(0)
  })

  it('listen() takes the options-object shape and passes the callback on, called once with no argument', async () => {
    const calls: unknown[][] = []
    const server = withReload(new Koa(), options).listen({ port: 0, host: '127.0.0.1' }, (...args: unknown[]) => { calls.push(args) })
    await listening(server)
    await new Promise((resolve) => setImmediate(resolve))
    expect(calls).toEqual([[]])
  })

  it('attach(server) of withReload tracks a server made from app.callback(), and its uninstaller stops that', async () => {
    const { app, held, seen } = heldApp(Koa)
    const server = http.createServer(app.callback())
    const detach = withReload(app, options).attach(server)
    await listening(server.listen(0, '127.0.0.1'))
    expect(await inFlight(server, held, () => reloader().requests)).toBe(1)
    expect(seen()).toBe(reloader())
    detach()
    expect(await inFlight(server, held, () => reloader().requests)).toBe(0)
  })

  it('attach(server, options) alone tracks the server and leaves ctx.reload unset', async () => {
    const { app, held, seen } = heldApp(Koa)
    const server = http.createServer(app.callback())
    attach(server, options)
    await listening(server.listen(0, '127.0.0.1'))
    expect(await inFlight(server, held, () => reloader().requests)).toBe(1)
    expect(seen()).toBe(undefined)
  })

  it('types ctx.reload as the Reloader', () => {
    const app = new Koa()
    app.use((ctx) => { expectTypeOf(ctx.reload).toEqualTypeOf<Reloader>() })
    expectTypeOf(withReload(app, options).listen(0)).toEqualTypeOf<http.Server>()
  })
})
