import { EventEmitter } from 'node:events'
import { realpathSync, rmSync, statSync } from 'node:fs'
import type { Server } from 'node:net'
import { performance } from 'node:perf_hooks'
import { tellParent } from './child.js'
import { ReloadError } from './errors.js'
import { takeInheritance } from './fds.js'
import { Ledger, type Cut } from './ledger.js'
import { Listeners } from './listeners.js'
import { debug, stderrLogger, toLogger, type Logger } from './log.js'
import { resolveOptions, type ReloadOptions, type ResolvedOptions } from './options.js'
import { removePidFile, writePidFile } from './pidfile.js'
import { foreignListeners, onSignals } from './signals.js'
import { spawnGeneration } from './upgrader.js'

/**
 * Where a generation is in its life: `starting` until ready, `ready` while serving, `upgrading` while a
 * new generation starts, `draining` once it stops accepting, `stopped` when the drain is over.
 */
export type ReloadState = 'starting' | 'ready' | 'upgrading' | 'draining' | 'stopped'

/** What `upgrade()` resolves with: the new generation, and how long it took from start to ready. */
export interface UpgradeResult { pid: number, generation: number, ms: number }

/** Why a generation drains: a handover to the next one, or a shutdown (signal or `drain()`). */
export type DrainReason = 'upgrade' | 'shutdown'

/** The events of a {@link Reloader}. */
export interface ReloadEvents {
  ready: [{ pid: number, generation: number }]
  upgrade: [UpgradeResult]
  upgradeFailed: [ReloadError]
  drain: [{ reason: DrainReason }]
  exit: [{ code: number, cut: Cut }]
}

// A deploy that moves a `current` symlink changes where $PWD points; process.cwd() was resolved at start.
function startCwd (): string {
  const cwd = process.cwd()
  const pwd = process.env.PWD
  try {
    if (pwd !== undefined && pwd !== cwd && realpathSync(pwd) === cwd) return pwd
  } catch {}
  return cwd
}

/**
 * One per process (get it with {@link reloader}): the listeners this generation serves, its ledger of
 * requests, and the handover to the next generation.
 */
export class Reloader extends EventEmitter<ReloadEvents> {
  /** 1 for a process started by hand, n + 1 for the one generation n started. */
  readonly generation: number
  /** Whether a previous generation started this one and waits for it to be ready. */
  readonly hasParent: boolean
  readonly #options: ResolvedOptions
  readonly #log: Logger
  readonly #listeners: Listeners
  readonly #ledgers = new Map<Server, Ledger>()
  readonly #optional = new WeakSet<Server>()
  readonly #beforeExit = new Set<() => unknown>()
  readonly #uninstall: Array<() => void> = []
  readonly #cwd: string
  #readyFd: number | undefined
  #state: ReloadState = 'starting'
  #wasReady = false
  #upgrade: AbortController | undefined
  #retiring: Promise<void> | undefined
  #shutdownSignals = 0

  constructor (options?: ReloadOptions) {
    super()
    this.#options = resolveOptions(options)
    this.#log = toLogger(this.#options.logger ?? stderrLogger)
    const inheritance = takeInheritance()
    this.generation = inheritance.generation
    this.#readyFd = inheritance.readyFd
    this.hasParent = inheritance.readyFd !== undefined
    this.#cwd = this.#options.cwd ?? startCwd()
    this.#listeners = new Listeners(inheritance.fds, {
      settled: () => this.#onListened(),
      error: (err, server) => this.#onListenError(err, server),
      // Node removes a socket path when its server closes; reload's rename keeps it, so a close that
      // is the app's own, not a handover, removes it here.
      closed: ({ path }) => { if (path !== undefined && this.#retiring === undefined) removeSocket(path) }
    })
    debug('generation %d, inherited %o', this.generation, inheritance.fds.map((fd) => `${fd.fd}=${fd.name}`))
    const { signal, shutdownSignals } = this.#options
    if (signal !== false && process.platform !== 'win32') this.#uninstall.push(onSignals([signal], this.#onUpgradeSignal))
    if (shutdownSignals !== false) this.#uninstall.push(onSignals(shutdownSignals, this.#onShutdownSignal))
  }

  get state (): ReloadState { return this.#state }
  get isDraining (): boolean { return this.#state === 'draining' || this.#state === 'stopped' }
  /** Requests in flight across every attached server. */
  get requests (): number { return [...this.#ledgers.values()].reduce((n, ledger) => n + ledger.requests, 0) }
  /** Open connections across every attached server. */
  get connections (): number { return [...this.#ledgers.values()].reduce((n, ledger) => n + ledger.connections, 0) }

  /**
   * Tracks `server` in the ledger and makes its `listen()` take an inherited listener where one matches.
   * With `optional`, a failed `listen()` of that server leaves this generation serving without it instead
   * of failing the handover (Fastify's extra bindings for `localhost`, which Fastify itself lets fail).
   * Returns the uninstaller.
   */
  attach<S extends Server>(server: S, options: { optional?: boolean } = {}): () => void {
    if (options.optional === true) this.#optional.add(server)
    if (this.#ledgers.has(server)) return () => this.#detach(server)
    this.#ledgers.set(server, new Ledger(server, { idleGrace: this.#options.idleGrace }))
    const own = Object.getOwnPropertyDescriptor(server, 'listen')
    const original = server.listen as (...args: unknown[]) => unknown
    const listeners = this.#listeners
    Object.defineProperty(server, 'listen', {
      configurable: true,
      writable: true,
      value: function listen (...args: unknown[]) { return listeners.listen(server, original, args) }
    })
    this.#uninstall.push(() => this.#detach(server, own))
    return () => this.#detach(server, own)
  }

  /** `server.listen(...args)`, taking an inherited listener where one matches. Returns `server`. */
  listen<S extends Server>(server: S, ...args: unknown[]): S {
    this.attach(server)
    return server.listen(...args as []) as S
  }

  /**
   * Marks this generation ready: closes inherited listeners nobody claimed, writes the pid file and tells
   * the previous generation, which then drains. Called for you once every server listens, unless
   * `autoReady` is `false`. Idempotent.
   */
  async ready (): Promise<void> {
    if (this.#state !== 'starting') return
    this.#state = 'ready'
    this.#wasReady = true
    const closed = this.#listeners.closeUnclaimed()
    if (closed.length > 0) this.#log.info({ names: closed.join(',') }, 'closed inherited listeners the new code does not use')
    if (this.#options.pidFile !== undefined) {
      try {
        writePidFile(this.#options.pidFile)
      } catch (err) {
        this.#log.error({ err }, `could not write pidFile ${this.#options.pidFile}: ${(err as Error).message}; serving without it`)
      }
    }
    const fd = this.#readyFd
    this.#readyFd = undefined
    if (fd !== undefined) await tellParent(fd, 'READY=1')
    const listening = this.#listeners.bindings.map((b) => b.name).join(',') || 'none'
    this.#log.info({ pid: process.pid, generation: this.generation, listening }, `generation ${this.generation} ready`)
    this.#warnForeignListeners()
    this.emit('ready', { pid: process.pid, generation: this.generation })
  }

  /**
   * Starts the next generation with this one's listeners and, once it is ready, drains this one.
   * Resolves when the next generation is ready; rejects with a coded {@link ReloadError} otherwise, and
   * this generation goes on serving as before.
   */
  async upgrade (): Promise<UpgradeResult> {
    if (process.platform === 'win32') {
      throw new ReloadError('ERR_RELOAD_UNSUPPORTED_PLATFORM', 'reload cannot hand listeners over on Windows: the app keeps running; restart it to deploy')
    }
    if (this.#state === 'starting') throw new ReloadError('ERR_RELOAD_NOT_READY', 'upgrade() called before this generation was ready; wait for the ready event, or call ready() once every server listens')
    if (this.#state === 'upgrading') throw new ReloadError('ERR_RELOAD_IN_PROGRESS', 'a handover is already in progress; wait for it to finish, then upgrade again')
    if (this.#state !== 'ready') throw new ReloadError('ERR_RELOAD_DRAINING', `this generation (pid ${process.pid}) is draining; upgrade the generation that now serves`)
    this.#state = 'upgrading'
    const generation = this.generation + 1
    const bindings = this.#listeners.bindings.filter((b) => b.fd >= 0)
    const started = performance.now()
    this.#upgrade = new AbortController()
    let child
    try {
      child = await spawnGeneration({
        fds: bindings.map((b) => b.fd),
        names: bindings.map((b) => b.name),
        generation,
        readyTimeout: this.#options.readyTimeout,
        cwd: this.#cwd,
        signal: this.#upgrade.signal,
        onSpawn: (pid) => this.#log.info({ pid, listeners: bindings.length }, `starting generation ${generation}`)
      })
    } catch (err) {
      const error = err as ReloadError
      const serving = this.#state === 'upgrading'
      if (serving) this.#state = 'ready'
      this.#log.error({ code: error.code }, `handover failed, pid ${process.pid} ${serving ? 'keeps serving' : 'drains'}: ${error.message}`)
      this.emit('upgradeFailed', error)
      throw error
    } finally {
      this.#upgrade = undefined
    }
    child.unref()
    const result = { pid: child.pid as number, generation, ms: Math.round(performance.now() - started) }
    this.#log.info({ pid: result.pid, ms: result.ms }, `generation ${generation} ready; pid ${process.pid} drains`)
    this.emit('upgrade', result)
    this.#retire('upgrade').catch(this.#fatal)
    return result
  }

  /**
   * Shuts this generation down: stops accepting, lets what it took finish, runs the `beforeExit` hooks,
   * and exits (unless `exit: false`). Resolves when the drain is over. Idempotent.
   */
  drain (): Promise<void> {
    return this.#retire('shutdown')
  }

  /**
   * Runs `hook` once the drain is over and before exit (close pools and the like), within what is left
   * of `drainTimeout`. Returns the uninstaller.
   */
  beforeExit (hook: () => unknown): () => void {
    this.#beforeExit.add(hook)
    return () => this.#beforeExit.delete(hook)
  }

  /** Removes every signal handler and `listen` wrapper reload installed. */
  stop (): void {
    for (const uninstall of this.#uninstall.splice(0)) uninstall()
  }

  #detach (server: Server, own?: PropertyDescriptor): void {
    this.#ledgers.get(server)?.detach()
    this.#ledgers.delete(server)
    if (own !== undefined) Object.defineProperty(server, 'listen', own)
    else Reflect.deleteProperty(server, 'listen')
  }

  #onListened (): void {
    if (!this.#options.autoReady || this.#state !== 'starting') return
    // Let listen() calls made in the same turn (a second server, another address) start first.
    setImmediate(() => {
      if (this.#listeners.pending === 0 && this.#listeners.bindings.length > 0) this.ready().catch(this.#fatal)
    })
  }

  #onListenError (err: Error, server: Server): void {
    if (this.#optional.has(server)) {
      this.#log.info({}, `${err.message}; serving without it`)
      return
    }
    const fd = this.#readyFd
    if (this.#state !== 'starting' || fd === undefined) return
    this.#readyFd = undefined
    // The parent stops this generation now; it must not report ready meanwhile.
    this.#state = 'stopped'
    tellParent(fd, `ERROR=listen failed: ${err.message}`).catch(this.#fatal)
  }

  readonly #onUpgradeSignal = (signal: NodeJS.Signals): void => {
    const state = this.#state
    if (state !== 'ready') {
      const why = {
        starting: 'this generation is not ready yet',
        upgrading: 'a handover is already in progress',
        draining: 'this generation is draining; signal the one that serves now',
        stopped: 'this generation is exiting'
      }[state]
      this.#log.warn({}, `${signal} ignored: ${why}`)
      return
    }
    this.#log.info({}, `${signal} received`)
    this.upgrade().catch(() => {})
  }

  readonly #onShutdownSignal = (signal: NodeJS.Signals): void => {
    this.#shutdownSignals++
    if (this.#shutdownSignals > 1) {
      this.#log.warn({}, `second ${signal}: exiting now`)
      for (const ledger of this.#ledgers.values()) ledger.destroy()
      process.exit(1)
    }
    if (this.#retiring !== undefined) {
      this.#log.info({}, `${signal} received while draining; send it again to exit now`)
      return
    }
    this.#log.info({}, `${signal} received`)
    this.#retire('shutdown').catch(this.#fatal)
  }

  // A failure in a path nobody awaits: say so, and make the process's exit code show it.
  readonly #fatal = (err: unknown): void => {
    this.#log.error({ err }, `reload failed: ${(err as Error)?.stack ?? String(err)}`)
    process.exitCode = 1
  }

  #warnForeignListeners (): void {
    const signal = this.#options.signal
    if (signal === false || foreignListeners(signal, this.#onUpgradeSignal) === 0) return
    this.#log.warn({ signal }, `another ${signal} listener is installed (a shutdown helper such as close-with-grace?); ` +
      `it may stop the app on reload: make it skip ${signal}, or set reload's signal option to another signal`)
  }

  #retire (reason: DrainReason): Promise<void> {
    this.#retiring ??= this.#drainAndExit(reason)
    return this.#retiring
  }

  async #drainAndExit (reason: DrainReason): Promise<void> {
    this.#upgrade?.abort()
    // A new generation stopped before it was ready shares its unix paths with the one that serves.
    const wasLast = reason === 'shutdown' && (this.#wasReady || !this.hasParent)
    this.#state = 'draining'
    if (wasLast && this.#options.shutdownDelay > 0) {
      this.#log.info({ ms: this.#options.shutdownDelay }, 'serving on during shutdownDelay')
      await new Promise((resolve) => setTimeout(resolve, this.#options.shutdownDelay))
    }
    const start = Date.now()
    const deadline = start + this.#options.drainTimeout
    const ledgers = [...this.#ledgers.values()]
    this.#log.info({ requests: this.requests, connections: this.connections }, 'draining')
    this.emit('drain', { reason })
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      Promise.all(ledgers.map(async (ledger) => await ledger.drain({ deadline }))).then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(resolve, this.#options.drainTimeout, true) })
    ])
    clearTimeout(timer)
    const cut = { requests: 0, connections: 0 }
    if (timedOut) {
      for (const ledger of ledgers) {
        const { requests, connections } = ledger.destroy()
        cut.requests += requests
        cut.connections += connections
      }
      this.#log.warn(cut, `drainTimeout (${this.#options.drainTimeout} ms) reached: cut ${cut.requests} requests on ${cut.connections} connections`)
    } else {
      this.#log.info({ ms: Date.now() - start }, 'drained')
    }
    await this.#runBeforeExit(Math.max(1000, deadline - Date.now()))
    if (wasLast) this.#removeFiles()
    const code = cut.requests > 0 ? 1 : 0
    this.#state = 'stopped'
    this.stop()
    this.emit('exit', { code, cut })
    this.#log.info({ code }, 'exiting')
    if (this.#options.exit) process.exit(code)
  }

  async #runBeforeExit (ms: number): Promise<void> {
    if (this.#beforeExit.size === 0) return
    let timer: NodeJS.Timeout | undefined
    const hooks = Promise.all([...this.#beforeExit].map(async (hook) => {
      try { await hook() } catch (err) { this.#log.error({ err }, `beforeExit hook failed: ${(err as Error).message}`) }
    }))
    const late = await Promise.race([hooks.then(() => false), new Promise<boolean>((resolve) => { timer = setTimeout(resolve, ms, true) })])
    clearTimeout(timer)
    if (late) this.#log.warn({ ms }, 'beforeExit hooks did not finish in time')
  }

  // Only the last generation removes the socket paths and the pid file: at a handover they are the next one's.
  #removeFiles (): void {
    if (this.#options.pidFile !== undefined) removePidFile(this.#options.pidFile)
    for (const path of this.#listeners.paths) removeSocket(path)
  }
}

function removeSocket (path: string): void {
  try {
    if (!path.startsWith('\0') && statSync(path).isSocket()) rmSync(path)
  } catch {}
}

const key = Symbol.for('@reload/core')

/**
 * The process's {@link Reloader}, created by the first call with its `options`; later calls return the
 * same one, so adapters and the app share it (even across two copies of this package).
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when the first call's options are invalid.
 */
export function reloader (options?: ReloadOptions): Reloader {
  const holder = globalThis as { [key]?: Reloader }
  if (holder[key] !== undefined) {
    if (options !== undefined) resolveOptions(options)
    return holder[key]
  }
  const created = new Reloader(options)
  holder[key] = created
  return created
}
