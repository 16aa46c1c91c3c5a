import { Server } from 'node:net'
import { reloader, type Reloader } from '@reload/core'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import reload, { reloadPlugin, type FastifyReloadOptions } from '../src/index.js'

// The reloader is one per process: this file's first registration makes it, with no signal handlers
// and no exit, so nothing reaches the test runner's own process.
const quiet: FastifyReloadOptions = { signal: false, shutdownSignals: false, exit: false, logger: false }

const apps: FastifyInstance[] = []
async function build (options: FastifyReloadOptions = quiet): Promise<FastifyInstance> {
  const app = Fastify()
  apps.push(app)
  await app.register(reloadPlugin, options)
  app.get('/', async () => 'ok')
  return app
}

afterEach(async () => { await Promise.all(apps.splice(0).map(async (app) => await app.close())) })
afterAll(() => { reloader().stop() })

describe('reloadPlugin', () => {
  it('is wrapped by fastify-plugin for Fastify 5, named @reload/fastify, and is the default export', () => {
    expect(reload).toBe(reloadPlugin)
    const meta = reloadPlugin as unknown as Record<symbol, unknown>
    expect(meta[Symbol.for('skip-override')]).toBe(true)
    expect(meta[Symbol.for('fastify.display-name')]).toBe('@reload/fastify')
    expect(meta[Symbol.for('plugin-meta')]).toEqual({ fastify: '5.x', name: '@reload/fastify' })
  })

  it('decorates the root instance with the process reloader as app.reload', async () => {
    const app = await build()
    await app.ready()
    expect(app.hasDecorator('reload')).toBe(true)
    expect(app.reload).toBe(reloader())
    expectTypeOf(app.reload).toEqualTypeOf<Reloader>()
  })

  it.each([
    [{ drainTimeout: -1 }, 'drainTimeout option should be a number of milliseconds >= 0, instead got -1'],
    [{ signal: 'SIGNOPE' }, "signal option should be a signal name such as 'SIGHUP', or false, instead got 'SIGNOPE'"],
    [{ autoReady: 'yes' }, "autoReady option should be a boolean, instead got 'yes'"],
    [{ logger: {} }, 'logger option should be a logger with info, warn and error methods, console, or false, instead got {}']
  ])('register fails with ERR_RELOAD_INVALID_OPTION for %o', async (options, message) => {
    const app = Fastify()
    apps.push(app)
    await expect(app.register(reloadPlugin, options as FastifyReloadOptions)).rejects.toMatchObject({
      name: 'ReloadError', code: 'ERR_RELOAD_INVALID_OPTION', message
    })
  })

  it('register fails with ERR_RELOAD_INVALID_OPTION for an unknown option', async () => {
    const app = Fastify()
    apps.push(app)
    await expect(app.register(reloadPlugin, { drainTimout: 5 } as FastifyReloadOptions)).rejects.toMatchObject({
      code: 'ERR_RELOAD_INVALID_OPTION', message: expect.stringMatching(/^drainTimout option should be one of signal, /)
    })
  })

  it('with autoReady: false, app.listen() leaves readiness to app.reload.ready()', async () => {
    const app = await build({ ...quiet, autoReady: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    expect(app.reload.state).toBe('starting')
    await app.reload.ready()
    expect(app.reload.state).toBe('ready')
  })

  it('tracks requests on app.server and leaves net.Server.prototype.listen as it found it', async () => {
    const listen = Server.prototype.listen
    const app = await build()
    app.get('/slow', async () => { await new Promise((resolve) => setTimeout(resolve, 200)); return 'slow' })
    await app.listen({ port: 0, host: '127.0.0.1' })
    expect(Server.prototype.listen).toBe(listen)
    expect(Object.hasOwn(app.server, 'listen')).toBe(true)
    const { port } = app.server.address() as { port: number }
    const slow = fetch(`http://127.0.0.1:${port}/slow`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(app.reload.requests).toBe(1)
    expect(await (await slow).text()).toBe('slow')
    expect(app.reload.requests).toBe(0)
  })

  it('app.close() by the app uninstalls the listen wrapper and the ledger, and a second close is harmless', async () => {
    const app = await build()
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok')
    await app.close()
    expect(Object.hasOwn(app.server, 'listen')).toBe(false)
    expect(app.reload.connections).toBe(0)
    expect(app.reload.state).toBe('ready')
    await app.close()
  })
})
