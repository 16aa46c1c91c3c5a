import { once } from 'node:events'
import { rmSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { Held, inFlight } from '@reload/test-helpers'
import { reloader, ReloadError } from '@reload/core'
import { withReload, type ExpressApp } from '../src/index.js'

// The reloader is one per process: no signal handlers, no exit, no log lines in the test runner.
const options = { signal: false, shutdownSignals: false, exit: false, logger: false } as const
const express4 = createRequire(import.meta.url)('express4') as typeof express
const majors = [['Express 5', express], ['Express 4', express4]] as const
const servers: http.Server[] = []
const socketPath = join(tmpdir(), `reload-express-${process.pid}.sock`)

// An app whose one route is held until the test releases it, so a test can look at the ledger mid-request.
function slowApp (make: typeof express): { app: ExpressApp, held: Held } {
  const app = make()
  const held = new Held()
  app.get('/', (req, res) => { held.here().then(() => res.send('done'), () => {}) })
  return { app, held }
}

// What a listen on a taken port did: the callback's calls, and whether the server emitted 'error'.
async function onTakenPort (listen: (cb: (...args: unknown[]) => void) => http.Server): Promise<{ calls: unknown[][], error: string | undefined }> {
  const calls: unknown[][] = []
  const server = listen((...args) => { calls.push(args.map((a) => (a as { code?: string } | undefined)?.code ?? a)) })
  const [err] = await once(server, 'error') as [NodeJS.ErrnoException]
  await new Promise((resolve) => setImmediate(resolve))
  return { calls, error: err.code }
}

describe('withReload(app)', () => {
  afterEach(() => {
    for (const server of servers.splice(0)) server.close()
    // reload binds a socket path so that no close unlinks it (the next generation's): remove it here.
    rmSync(socketPath, { force: true })
  })
  afterAll(() => reloader().detach())

  it('throws ERR_RELOAD_INVALID_OPTION for an invalid option or a value that is not an application', () => {
    expect(() => withReload(express(), { drainTimeout: -1 })).toThrow(expect.objectContaining({
      code: 'ERR_RELOAD_INVALID_OPTION',
      message: 'drainTimeout option should be a number of milliseconds >= 0 (Infinity for no limit), instead got -1'
    }))
    expect(() => withReload({} as ExpressApp, options)).toThrow(ReloadError)
    expect(() => withReload(null as unknown as ExpressApp)).toThrow(expect.objectContaining({
      code: 'ERR_RELOAD_INVALID_OPTION',
      message: 'withReload(app) expects an Express application (what express() returns), instead got null'
    }))
  })

  for (const [name, make] of majors) {
    it(`${name}: listen() returns the listening http.Server, calls back once with no argument, and tracks its requests`, async () => {
      const { app, held } = slowApp(make)
      const calls: unknown[][] = []
      const server = withReload(app, options).listen(0, '127.0.0.1', (...args: unknown[]) => { calls.push(args) })
      servers.push(server)
      expect(server).toBeInstanceOf(http.Server)
      await once(server, 'listening')
      await new Promise((resolve) => setImmediate(resolve))
      expect(calls).toEqual([[]])
      expect(await inFlight(server, held, () => reloader().requests)).toBe(1)
    })

    it(`${name}: a listen error reaches the callback exactly as app.listen() would deliver it`, async () => {
      const blocker = http.createServer().listen(0, '127.0.0.1')
      servers.push(blocker)
      await once(blocker, 'listening')
      const { port } = blocker.address() as AddressInfo
      const native = await onTakenPort((cb) => make().listen(port, '127.0.0.1', cb))
      const ours = await onTakenPort((cb) => withReload(make(), options).listen(port, '127.0.0.1', cb))
      expect(ours).toEqual(native)
      expect(native).toEqual(name === 'Express 5'
        ? { calls: [['EADDRINUSE']], error: 'EADDRINUSE' }
        : { calls: [], error: 'EADDRINUSE' })
    })
  }

  it.each([
    ['(port, host)', [0, '127.0.0.1']],
    ['(port, host, backlog)', [0, '127.0.0.1', 16]],
    ['(options)', [{ port: 0, host: '127.0.0.1' }]],
    ['(path)', [socketPath]]
  ])('listen%s takes the same arguments as app.listen', async (_, args) => {
    const server = (withReload(express(), options).listen as (...a: unknown[]) => http.Server)(...args)
    servers.push(server)
    await once(server, 'listening')
    const address = server.address()
    if (typeof args[0] === 'string') expect(address).toBe(args[0])
    else expect((address as AddressInfo).port).toBeGreaterThan(0)
  })

  it('attach(server) tracks a server the app created, and its uninstaller stops that', async () => {
    const { app, held } = slowApp(express)
    const server = http.createServer(app)
    servers.push(server)
    const detach = withReload(app, options).attach(server)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    expect(await inFlight(server, held, () => reloader().requests)).toBe(1)
    detach()
    expect(await inFlight(server, held, () => reloader().requests)).toBe(0)
  })
})
