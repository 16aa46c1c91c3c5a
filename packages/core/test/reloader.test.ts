import http from 'node:http'
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Reloader, reloader } from '../src/generation/reloader.js'
import { ReloadError } from '../src/errors.js'

// In-process: no signal handlers and no exit, so the test worker lives on.
const quiet = { signal: false, shutdownSignals: false, exit: false, logger: false } as const
const made: Reloader[] = []
function make (options = {}): Reloader {
  const r = new Reloader({ ...quiet, ...options })
  made.push(r)
  return r
}
afterEach(() => { for (const r of made.splice(0)) r.detach() })

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

  it('replaces a stale unix socket file (its server was killed) at a cold start, and a live one still fails with EADDRINUSE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-unit-'))
    try {
      const [live, stale] = [join(dir, 'live.sock'), join(dir, 'stale.sock')]
      const owner = net.createServer().listen(live)
      await once(owner, 'listening')
      // A second name for the socket file outlives the server's own: what SIGKILL leaves behind.
      linkSync(live, stale)
      const warnings: string[] = []
      const r = make({ logger: { info () {}, error () {}, warn: (obj: object, msg: string) => warnings.push(msg) } })
      const taken = http.createServer()
      r.attach(taken)
      const error = once(taken, 'error')
      taken.listen(live)
      expect((await error as [NodeJS.ErrnoException])[0].code).toBe('EADDRINUSE')
      owner.close()
      await once(owner, 'close')
      expect(statSync(stale).isSocket()).toBe(true)
      const server = http.createServer((req, res) => res.end('fresh'))
      r.listen(server, stale)
      await once(server, 'listening')
      expect(warnings).toEqual(['replacing a stale unix socket: nothing accepts on it (its server was killed?)'])
      expect(server.address()).toBe(stale)
      const body = await new Promise<string>((resolve, reject) => {
        http.get({ socketPath: stale, path: '/' }, (res) => { res.setEncoding('utf8'); res.on('data', resolve) }).on('error', reject)
      })
      expect(body).toBe('fresh')
      server.close()
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

describe('Reloader lifecycle contract', () => {
  it('installs its signal handlers when the first server is attached, and detach() removes them', () => {
    const before = [process.listenerCount('SIGUSR2'), process.listenerCount('SIGWINCH')]
    const r = make({ signal: 'SIGUSR2', shutdownSignals: ['SIGWINCH'] })
    expect([process.listenerCount('SIGUSR2'), process.listenerCount('SIGWINCH')]).toEqual(before)
    r.attach(http.createServer())
    expect([process.listenerCount('SIGUSR2'), process.listenerCount('SIGWINCH')]).toEqual(before.map((n) => n + 1))
    r.detach()
    expect([process.listenerCount('SIGUSR2'), process.listenerCount('SIGWINCH')]).toEqual(before)
  })

  it('detach() hands every server back and goes back to starting; attaching again starts anew', async () => {
    const before = process.listenerCount('SIGUSR2')
    const r = make({ signal: 'SIGUSR2' })
    const server = http.createServer()
    r.listen(server, 0, '127.0.0.1')
    await once(r, 'ready')
    r.detach()
    expect([r.state, process.listenerCount('SIGUSR2'), Object.hasOwn(server, 'listen')]).toEqual(['starting', before, false])
    expect((await rejection(r.upgrade())).code).toBe('ERR_RELOAD_NOT_READY')
    server.close()
    const again = http.createServer()
    r.listen(again, 0, '127.0.0.1')
    await once(r, 'ready')
    expect([r.state, process.listenerCount('SIGUSR2')]).toEqual(['ready', before + 1])
    again.close()
  })

  it('detaching the last server (an app closing itself) removes the signal handlers', () => {
    const before = process.listenerCount('SIGUSR2')
    const r = make({ signal: 'SIGUSR2' })
    const [a, b] = [http.createServer(), http.createServer()]
    const [undoA, undoB] = [r.attach(a), r.attach(b)]
    expect(r.attach(a)).toBe(undoA)
    undoA()
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1)
    undoB()
    expect(process.listenerCount('SIGUSR2')).toBe(before)
  })

  it('a spawn that throws at once rejects with ERR_RELOAD_SPAWN_FAILED and the generation keeps serving', async () => {
    const r = make({ cwd: '/tmp/\0nowhere' })
    const failed = once(r, 'upgradeFailed')
    await r.ready()
    const err = await rejection(r.upgrade())
    expect(err.code).toBe('ERR_RELOAD_SPAWN_FAILED')
    expect(err.message).toMatch(/^could not start the new generation/)
    expect(err.cause).toBeInstanceOf(Error)
    expect(await failed).toEqual([err])
    expect(r.state).toBe('ready')
  })

  it('a unix socket that cannot be put in place is the server\'s error ERR_RELOAD_SOCKET_PATH, not an uncaught exception', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-unit-'))
    try {
      const path = join(dir, 'app.sock')
      const r = make()
      const server = http.createServer()
      const error = once(server, 'error')
      r.listen(server, path)
      // Runs before reload's own 'listening' listener: the path is taken between bind and rename.
      server.prependOnceListener('listening', () => mkdirSync(path))
      const [err] = await error as [ReloadError]
      expect(err.code).toBe('ERR_RELOAD_SOCKET_PATH')
      expect(err.message).toContain(`could not put the unix socket at ${path}`)
      expect(readdirSync(dir)).toEqual(['app.sock'])
      expect(statSync(path).isDirectory()).toBe(true)
      expect(r.state).toBe('starting')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('fits shutdownDelay, the drain and the beforeExit hooks in one drainTimeout budget', async () => {
    const warnings: Array<{ obj: Record<string, unknown>, msg: string }> = []
    const logger = { info () {}, error () {}, warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }) }
    const r = make({ drainTimeout: 400, shutdownDelay: 150, logger })
    r.beforeExit(() => new Promise(() => {}))
    await r.ready()
    const exit = once(r, 'exit')
    await r.drain()
    expect(await exit).toEqual([{ code: 0, cut: { requests: 0, connections: 0 } }])
    const late = warnings.find((w) => w.msg === 'beforeExit hooks did not finish within drainTimeout')
    // The hooks got what was left of the 400 ms after the delay, not a second of their own.
    expect(late?.obj.ms).toBeLessThan(400)
  })

  it('with "no limit" timeouts (3e9) the drain waits for the request instead of cutting it after 1 ms', async () => {
    const r = make({ drainTimeout: 3e9, idleGrace: 3e9 })
    let release: () => void = () => {}
    const server = http.createServer()
    const arrived = new Promise<void>((resolve) => {
      server.on('request', (req, res) => { release = () => res.end('done'); resolve() })
    })
    r.listen(server, 0, '127.0.0.1')
    await once(r, 'ready')
    const { port } = server.address() as AddressInfo
    const response = fetch(`http://127.0.0.1:${port}/`).then(async (res) => await res.text())
    await arrived
    const exit = once(r, 'exit')
    const drained = r.drain()
    // An overflowed timer fires after 1 ms: give it far longer than that to cut, then answer.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(r.requests).toBe(1)
    release()
    expect(await response).toBe('done')
    await drained
    expect(await exit).toEqual([{ code: 0, cut: { requests: 0, connections: 0 } }])
  })
})

describe('reloader()', () => {
  it('returns one instance per process; options merge until a server is attached, then cannot change', () => {
    const first = reloader(quiet)
    made.push(first)
    expect(reloader()).toBe(first)
    expect(() => reloader({ readyTimeout: 'soon' } as never)).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION' }))
    expect(reloader({ readyTimeout: 5000 })).toBe(first)
    first.attach(http.createServer())
    expect(reloader({ readyTimeout: 5000, exit: false })).toBe(first)
    expect(() => reloader({ readyTimeout: 6000 })).toThrow(expect.objectContaining({
      code: 'ERR_RELOAD_INVALID_OPTION',
      message: 'readyTimeout option cannot change once a server is attached (it is already set to another value); pass the options in the first reloader() call, or call reloader() without options'
    }))
  })
})
