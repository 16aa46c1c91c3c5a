import { copyFileSync, cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, root, startServer } from './helpers/process.js'
import { get, request } from './helpers/http.js'

const versions = { koa: '3.3.0', koa2: '2.16.4' } as const
const folders: string[] = []

// An app folder laid out as npm would install it with `koa` at the given major: the adapter resolves
// `koa` (its peer) from there, as it does in a user's app, and patches that Koa's listen().
function install (koa: keyof typeof versions): string {
  const dir = mkdtempSync(join(tmpdir(), `reload-${koa}-`))
  folders.push(dir)
  const modules = join(dir, 'node_modules')
  mkdirSync(join(modules, '@reload', 'koa'), { recursive: true })
  symlinkSync(realpathSync(join(root, 'packages/koa/node_modules', koa)), join(modules, 'koa'))
  symlinkSync(join(root, 'packages/core'), join(modules, '@reload', 'core'))
  cpSync(join(root, 'packages/koa/dist'), join(modules, '@reload', 'koa', 'dist'), { recursive: true })
  copyFileSync(join(root, 'packages/koa/package.json'), join(modules, '@reload', 'koa', 'package.json'))
  copyFileSync(join(root, 'test/fixtures/koa-app.js'), join(dir, 'app.js'))
  return join(dir, 'app.js')
}

// Keep-alive: with no agent the client itself asks for `Connection: close` and the header proves nothing.
const agent = new http.Agent({ keepAlive: true })

async function state (url: string, options: Parameters<typeof request>[1] = {}): Promise<{ body: unknown, connection: string | undefined }> {
  const outcome = await request(url, options)
  if (outcome.error !== undefined) throw new Error(`GET ${url} failed: ${outcome.error}`)
  return { body: JSON.parse(outcome.body as string), connection: outcome.headers?.connection }
}

// Seconds a slow request takes: still in flight when the drain begins, even on a busy machine.
const held = 2.5

// The new generation logs ready once it has told the old one, which closes its listener a moment later:
// until the old one logs `draining`, a new connection may still land on it.
async function draining (fixture: Fixture, pid: number): Promise<void> {
  await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
}

describe('@reload/koa', () => {
  afterEach(async () => {
    agent.destroy()
    await closeAll()
    for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  for (const koa of ['koa', 'koa2'] as const) {
    const version = versions[koa]
    it(`Koa ${version}, app.use(reload()) + app.listen(): ctx.reload shows generation 2 after a reload, and draining with Connection: close`, async () => {
      const { fixture, url, pid } = await startServer(install(koa))
      expect(await state(`${url}/reload`, { agent })).toEqual({
        body: { pid, generation: 1, state: 'ready', isDraining: false, koa: version },
        connection: 'keep-alive'
      })
      const slow = state(`${url}/reload?sleep=${held}`, { agent })
      await new Promise((resolve) => setTimeout(resolve, 200))
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      await draining(fixture, pid)
      expect(next).not.toBe(pid)
      // A new connection (no agent): the pooled one may have been idle when the drain began.
      expect((await state(`${url}/reload`)).body).toEqual({ pid: next, generation: 2, state: 'ready', isDraining: false, koa: version })
      expect(await slow).toEqual({
        body: { pid, generation: 1, state: 'draining', isDraining: true, koa: version },
        connection: 'close'
      })
      await fixture.gone(pid)
    })
  }

  it('Koa 3, http.createServer(app.callback()) + attach(server): the slow request ends on the old pid, new ones get the new pid', async () => {
    const { fixture, url, pid } = await startServer(install('koa'), { env: { MODE: 'attach' } })
    const slow = request(`${url}/?sleep=${held}`, { agent })
    await new Promise((resolve) => setTimeout(resolve, 200))
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await draining(fixture, pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next} koa:3.3.0`)
    const old = await slow
    expect(old.status).toBe(200)
    expect(old.body).toBe(`ospid:${pid} koa:3.3.0`)
    expect(old.headers?.connection).toBe('close')
    await fixture.gone(pid)
  })
})
