import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { Server } from 'node:net'
import { reloader, type Reloader } from '@reload/core'
import { Held } from '@reload/test-helpers'
import Fastify, { type FastifyHttpOptions, type FastifyInstance } from 'fastify'
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest'
import reload, { reloadPlugin, serverFactory, type FastifyReloadOptions } from '../src/index.js'

// The reloader is one per process: this file's first registration makes it, with no signal handlers
// and no exit, so nothing reaches the test runner's own process. The apps stay open until the last test:
// closing the last one would send the reloader back to starting.
const quiet: FastifyReloadOptions = { signal: false, shutdownSignals: false, exit: false, logger: false }

const apps: FastifyInstance[] = []
async function build (options: FastifyReloadOptions = quiet, fastifyOptions: FastifyHttpOptions<http.Server> = {}): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions)
  apps.push(app)
  await app.register(reloadPlugin, options)
  app.get('/', async () => 'ok')
  return app
}

afterAll(async () => {
  await Promise.all(apps.splice(0).map(async (app) => await app.close()))
  reloader().detach()
})

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
    [{ drainTimeout: -1 }, /^drainTimeout option should be a number of milliseconds >= 0\b.*, instead got -1$/],
    [{ signal: 'SIGNOPE' }, /^signal option should be a signal name such as 'SIGHUP'.*, instead got 'SIGNOPE'$/],
    [{ autoReady: 'yes' }, /^autoReady option should be a boolean, instead got 'yes'$/],
    [{ logger: {} }, /^logger option should be a logger with info, warn and error methods, console, or false, instead got \{\}$/]
  ])('register fails with ERR_RELOAD_INVALID_OPTION for %o', async (options, message) => {
    const app = Fastify()
    apps.push(app)
    await expect(app.register(reloadPlugin, options as FastifyReloadOptions)).rejects.toMatchObject({
      name: 'ReloadError', code: 'ERR_RELOAD_INVALID_OPTION', message: expect.stringMatching(message)
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

  it('tracks requests on app.server', async () => {
    const app = await build()
    const held = new Held()
    app.get('/slow', async () => { await held.here(); return 'slow' })
    await app.listen({ port: 0, host: '127.0.0.1' })
    expect(Object.hasOwn(app.server, 'listen')).toBe(true)
    const { port } = app.server.address() as { port: number }
    const slow = fetch(`http://127.0.0.1:${port}/slow`)
    const release = await held.arrived()
    expect(app.reload.requests).toBe(1)
    release()
    expect(await (await slow).text()).toBe('slow')
    expect(app.reload.requests).toBe(0)
  })

  it.each<[string, FastifyHttpOptions<http.Server>]>([
    ['without serverFactory', {}],
    ['with serverFactory', { serverFactory }]
  ])('patches no prototype: net.Server and http.Server listen stay as they were while app.listen() binds (%s)', async (_name, fastifyOptions) => {
    const listens = [Server.prototype.listen, http.Server.prototype.listen]
    const seen: unknown[][] = []
    const app = await build(quiet, fastifyOptions)
    app.server.on('listening', () => seen.push([Server.prototype.listen, http.Server.prototype.listen]))
    const listened = new Promise<void>((resolve) => {
      app.addHook('onListen', async () => { seen.push([Server.prototype.listen, http.Server.prototype.listen]); resolve() })
    })
    // localhost: the host for which Fastify binds further addresses.
    await app.listen({ port: 0 })
    await listened
    expect(seen).toEqual([listens, listens])
    expect([Server.prototype.listen, http.Server.prototype.listen]).toEqual(listens)
  })

  it('with serverFactory and the default host, app.listen() binds what localhost resolves to and is ready after', async () => {
    const app = await build({ ...quiet, autoReady: false }, { serverFactory })
    await app.listen({ port: 0 })
    const expected = (await import('node:dns')).promises.lookup('localhost', { all: true })
    const addresses = new Set((await expected).map((a) => a.address))
    expect(addresses.has((app.server.address() as { address: string }).address)).toBe(true)
    expect(await (await fetch(`http://localhost:${(app.server.address() as { port: number }).port}/`)).text()).toBe('ok')
  })

  it('app.close() by the app uninstalls its listen wrappers and ledger, and a second close is harmless', async () => {
    const app = await build(quiet, { serverFactory })
    await app.listen({ port: 0 })
    const { port } = app.server.address() as { port: number }
    expect(await (await fetch(`http://localhost:${port}/`)).text()).toBe('ok')
    await app.close()
    expect(Object.hasOwn(app.server, 'listen')).toBe(false)
    await app.close()
  })
})

describe('serverFactory', () => {
  const tls = {
    key: readFileSync(new URL('../../../test/fixtures/express-tls-key.pem', import.meta.url)),
    cert: readFileSync(new URL('../../../test/fixtures/express-tls-cert.pem', import.meta.url))
  }

  it("makes the http.Server Fastify would make, with Fastify's timeouts", () => {
    const app = Fastify({ serverFactory, keepAliveTimeout: 5000, requestTimeout: 7000, connectionTimeout: 9000, maxRequestsPerSocket: 3 })
    expect(app.server).toBeInstanceOf(http.Server)
    expect(app.server).not.toBeInstanceOf(https.Server)
    expect([app.server.keepAliveTimeout, app.server.requestTimeout, app.server.timeout, app.server.maxRequestsPerSocket]).toEqual([5000, 7000, 9000, 3])
    const defaults = Fastify({ serverFactory }).server
    expect([defaults.keepAliveTimeout, defaults.requestTimeout, defaults.timeout]).toEqual([72_000, 0, 0])
  })

  it("makes an https.Server with Fastify's https option", () => {
    expect(Fastify({ https: tls, serverFactory }).server).toBeInstanceOf(https.Server)
  })

  it('refuses http2 with ERR_RELOAD_INVALID_OPTION', () => {
    expect(() => Fastify({ http2: true, serverFactory: serverFactory as never })).toThrow(expect.objectContaining({
      name: 'ReloadError', code: 'ERR_RELOAD_INVALID_OPTION'
    }))
  })
})
