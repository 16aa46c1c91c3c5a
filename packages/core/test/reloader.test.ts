import http from 'node:http'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Reloader, reloader } from '../src/reloader.js'
import { ReloadError } from '../src/errors.js'

// In-process: no signal handlers and no exit, so the test worker lives on.
const quiet = { signal: false, shutdownSignals: false, exit: false, logger: false } as const
const made: Reloader[] = []
function make (options = {}): Reloader {
  const r = new Reloader({ ...quiet, ...options })
  made.push(r)
  return r
}
afterEach(() => { for (const r of made.splice(0)) r.stop() })

async function rejection (promise: Promise<unknown>): Promise<ReloadError> {
  try { await promise } catch (err) { return err as ReloadError }
  throw new Error('expected a rejection')
}

describe('Reloader', () => {
  it('is ready once its server listens, then drains and says so', async () => {
    const r = make()
    expect([r.state, r.generation, r.hasParent]).toEqual(['starting', 1, false])
    const server = http.createServer((req, res) => res.end('ok'))
    const ready = once(r, 'ready')
    expect(r.listen(server, 0, '127.0.0.1')).toBe(server)
    expect(await ready).toEqual([{ pid: process.pid, generation: 1 }])
    expect(r.state).toBe('ready')
    const { port } = server.address() as AddressInfo
    const exit = once(r, 'exit')
    const drain = once(r, 'drain')
    await r.drain()
    expect(await drain).toEqual([{ reason: 'shutdown' }])
    expect(await exit).toEqual([{ code: 0, cut: { requests: 0, connections: 0 } }])
    expect(r.state).toBe('stopped')
    expect(server.listening).toBe(false)
    expect(port).toBeGreaterThan(0)
  })

  it('rejects upgrade() before ready with ERR_RELOAD_NOT_READY', async () => {
    const err = await rejection(make({ autoReady: false }).upgrade())
    expect(err).toMatchObject({ code: 'ERR_RELOAD_NOT_READY', message: 'upgrade() called before this generation was ready; wait for the ready event, or call ready() once every server listens' })
  })

  it('rejects upgrade() while draining with ERR_RELOAD_DRAINING', async () => {
    const r = make()
    await r.ready()
    await r.drain()
    expect((await rejection(r.upgrade())).code).toBe('ERR_RELOAD_DRAINING')
  })

  it('on Windows, listens but rejects upgrade() with ERR_RELOAD_UNSUPPORTED_PLATFORM', async () => {
    const r = make()
    await r.ready()
    const platform = Object.getOwnPropertyDescriptor(process, 'platform') as PropertyDescriptor
    Object.defineProperty(process, 'platform', { value: 'win32' })
    try {
      const err = await rejection(r.upgrade())
      expect(err).toBeInstanceOf(ReloadError)
      expect(err.code).toBe('ERR_RELOAD_UNSUPPORTED_PLATFORM')
    } finally {
      Object.defineProperty(process, 'platform', platform)
    }
    expect(r.state).toBe('ready')
  })

  it('rejects invalid options at construction', () => {
    expect(() => new Reloader({ drainTimeout: -5 })).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION' }))
  })

  it('binds a unix socket path that survives a handover, and removes it when the app closes the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-unit-'))
    try {
      const path = join(dir, 'app.sock')
      const r = make()
      const server = http.createServer((req, res) => res.end('ok'))
      r.listen(server, path)
      await once(server, 'listening')
      expect(server.address()).toBe(path)
      expect(statSync(path).isSocket()).toBe(true)
      expect(readdirSync(dir)).toEqual(['app.sock'])
      server.close()
      await once(server, 'close')
      expect(existsSync(path)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('attach() returns an uninstaller that restores listen()', () => {
    const r = make()
    const server = http.createServer()
    const uninstall = r.attach(server)
    expect(Object.hasOwn(server, 'listen')).toBe(true)
    uninstall()
    expect(Object.hasOwn(server, 'listen')).toBe(false)
  })
})

describe('reloader()', () => {
  it('returns one instance per process, and still checks later options', () => {
    const first = reloader(quiet)
    made.push(first)
    expect(reloader()).toBe(first)
    expect(() => reloader({ readyTimeout: 'soon' } as never)).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION' }))
  })
})
