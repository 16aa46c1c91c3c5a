import { EventEmitter } from 'node:events'
import { realpathSync } from 'node:fs'
import type { ListenOptions, Server } from 'node:net'
import { ReloadError } from './errors.js'
import { takeInheritance } from './fds.js'
import { checkInternals } from './internals.js'
import { Ledger, type Cut } from './ledger.js'
import { Listeners, removeSocket, type ReloadListenOptions } from './listeners.js'
import { debug, stderrLogger, toLogger, type Logger } from './log.js'
import { changedOption, resolveOptions, type ReloadOptions, type ResolvedOptions } from './options.js'
import { ParentLink } from './parent.js'
import { removePidFile, writePidFile } from './pidfile.js'
import { shutdown } from './shutdown.js'
import { foreignListeners, onSignals } from './signals.js'
import { Upgrader, type ReloadState, type UpgradeResult } from './upgrader.js'

export type { ReloadState, UpgradeResult } from './upgrader.js'

/** Why a generation drains: a handover to the next one, or a shutdown (signal or `drain()`). */
export type DrainReason = 'upgrade' | 'shutdown'

/** The events of a {@link Reloader}. */
export interface ReloadEvents {
  ready: [{ pid: number, generation: number }]
  upgrade: [UpgradeResult]
  upgradeFailed: [ReloadError]
  drain: [{ reason: DrainReason }]
  exit: [{ code: number, cut: Cut }]
  /** The generation that started this one has finished its drain (or died). */
  parentExit: [{ pid: number }]
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
 * One per process (get it with {@link reloader}): the servers this generation serves, their ledgers,
 * signals, and the drain. The handover state itself belongs to its {@link Upgrader}.
 */
export class Reloader extends EventEmitter<ReloadEvents> {
  /** 1 for a process started by hand, n + 1 for the one generation n started. */
  readonly generation: number
  readonly #upgrader: Upgrader
  readonly #listeners: Listeners
  readonly #ledgers = new Map<Server, Ledger>()
  readonly #optional = new WeakSet<Server>()
  readonly #beforeExit = new Set<() => unknown>()
  readonly #uninstall: Array<() => void> = []
  readonly #force = new AbortController()
  readonly #cwd = startCwd()
  #given: ReloadOptions
  #options: ResolvedOptions
  #log: Logger
  #started = false
  #retiring: Promise<void> | undefined
  #shutdownSignals = 0

  /** Use {@link reloader}: a second instance in one process would find no listener to inherit. */
  constructor (options: ReloadOptions = {}) {
    super()
    checkInternals()
    this.#options = resolveOptions(options)
    this.#given = { ...options }
    this.#log = toLogger(this.#options.logger ?? stderrLogger)
    const inheritance = takeInheritance()
    this.generation = inheritance.generation
    const parent = new ParentLink(inheritance.readyFd)
    if (parent.pid !== undefined) {
      const pid = parent.pid
      parent.waitForExit().then(() => this.emit('parentExit', { pid }), this.#fatal)
    }
    this.#upgrader = new Upgrader(parent, {
      generation: this.generation,
      readyTimeout: () => this.#options.readyTimeout,
      cwd: () => this.#options.cwd ?? this.#cwd,
      log: () => this.#log
    })
    this.#listeners = new Listeners(inheritance.fds, {
      settled: () => this.#onListened(),
      error: (err, server) => this.#onListenError(err, server),
      // Node removes a socket path when its server closes; reload's rename keeps it, so a close that
      // is the app's own, not a handover, removes it here.
      closed: ({ path }) => { if (path !== undefined && !this.#upgrader.isRetiring) removeSocket(path) }
    })
    debug('generation %d, inherited %o', this.generation, inheritance.fds.map((fd) => `${fd.fd}=${fd.name}`))
  }

  get state (): ReloadState { return this.#upgrader.state }
  get isDraining (): boolean { return this.#upgrader.isRetiring }
  /** Whether a previous generation started this one. */
  get hasParent (): boolean { return this.#upgrader.parent.exists }
  /** The pid of the generation that started this one while it still drains; `undefined` once it exited. */
  get parentPid (): number | undefined { return this.#upgrader.parent.pid }
  /** Requests in flight across every attached server. */
  get requests (): number { return [...this.#ledgers.values()].reduce((n, ledger) => n + ledger.requests, 0) }
  /** Open connections across every attached server. */
  get connections (): number { return [...this.#ledgers.values()].reduce((n, ledger) => n + ledger.connections, 0) }

  /** Resolves once the generation that started this one has exited (at once when there is none). */
  waitForParent (): Promise<void> { return this.#upgrader.parent.waitForExit() }

  /**
   * Merges `options` into this reloader's before its first server is attached; after that they are
   * fixed, and a call that would change one throws.
   * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION`
   */
  configure (options: ReloadOptions): void {
    const given = { ...this.#given, ...options }
    const resolved = resolveOptions(given)
    if (this.#started) {
      const changed = changedOption(this.#options, resolved, Object.keys(options).filter((key) => options[key as keyof ReloadOptions] !== undefined))
      if (changed !== undefined) {
        throw new ReloadError('ERR_RELOAD_INVALID_OPTION',
          `${changed} option cannot change once a server is attached (it is already set to another value); ` +
          'pass the options in the first reloader() call, or call reloader() without options')
      }
      return
    }
    this.#options = resolved
    this.#given = given
    this.#log = toLogger(this.#options.logger ?? stderrLogger)
  }

  /**
   * Tracks `server` in the ledger and makes its `listen()` take an inherited listener where one matches.
   * With `optional`, a failed `listen()` of that server leaves this generation serving without it instead
   * of failing the handover (Fastify's extra bindings for `localhost`, which Fastify itself lets fail).
   * The first server attached installs the signal handlers. Returns the uninstaller.
   * @throws {ReloadError} `ERR_RELOAD_DETACHED` after `detach()`.
   */
  attach<S extends Server>(server: S, options: { optional?: boolean } = {}): () => void {
    if (this.state === 'detached') throw new ReloadError('ERR_RELOAD_DETACHED', 'attach() called after detach(); this process no longer reloads')
    if (options.optional === true) this.#optional.add(server)
    if (this.#ledgers.has(server)) return () => this.#detachServer(server)
    this.#start()
    this.#ledgers.set(server, new Ledger(server, { idleGrace: this.#options.idleGrace }))
    const own = Object.getOwnPropertyDescriptor(server, 'listen')
    const original = server.listen as (...args: unknown[]) => unknown
    const listeners = this.#listeners
    Object.defineProperty(server, 'listen', {
      configurable: true,
      writable: true,
      value: function listen (...args: unknown[]) { return listeners.listen(server, original, args) }
    })
    this.#uninstall.push(() => this.#detachServer(server, own))
    return () => this.#detachServer(server, own)
  }

  /** `server.listen(...)` with `server.listen`'s call shapes, taking an inherited listener where one matches. Returns `server`. */
  listen<S extends Server>(server: S, port?: number, hostname?: string, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, port?: number, hostname?: string, listeningListener?: () => void): S
  listen<S extends Server>(server: S, port?: number, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, port?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, path: string, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, path: string, listeningListener?: () => void): S
  listen<S extends Server>(server: S, options: ReloadListenOptions | ListenOptions, listeningListener?: () => void): S
  listen<S extends Server>(server: S, handle: { fd: number } | object, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, handle: { fd: number } | object, listeningListener?: () => void): S
  listen<S extends Server>(server: S, listeningListener?: () => void): S
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
    if (this.state !== 'starting') return
    const closed = this.#listeners.closeUnclaimed()
    if (closed.length > 0) this.#log.info({ names: closed.join(',') }, 'closed inherited listeners the new code does not use')
    if (this.#options.pidFile !== undefined) {
      try {
        writePidFile(this.#options.pidFile)
      } catch (err) {
        this.#log.error({ err }, `could not write pidFile ${this.#options.pidFile}: ${(err as Error).message}; serving without it`)
      }
    }
    if (!await this.#upgrader.ready()) return
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
    const refused = this.#upgrader.refusal()
    if (refused !== undefined) throw refused
    const listeners = this.#listeners.bindings.filter((b) => b.fd >= 0).map(({ fd, name }) => ({ fd, name }))
    let result: UpgradeResult
    try {
      result = await this.#upgrader.upgrade(listeners)
    } catch (err) {
      const error = err instanceof ReloadError ? err : new ReloadError('ERR_RELOAD_SPAWN_FAILED', String(err), { cause: err })
      const serving = this.state === 'ready'
      this.#log.error({ code: error.code }, `handover failed, pid ${process.pid} ${serving ? 'keeps serving' : 'drains'}: ${error.message}`)
      this.emit('upgradeFailed', error)
      throw error
    }
    this.#log.info({ pid: result.pid, ms: result.ms }, `generation ${result.generation} ready; pid ${process.pid} drains`)
    this.emit('upgrade', result)
    this.#retire('upgrade').catch(this.#fatal)
    return result
  }

  /**
   * Shuts this generation down: stops accepting, lets what it took finish, runs the `beforeExit` hooks,
   * and exits (unless `exit: false`), all within `drainTimeout`. Resolves when the drain is over. Idempotent.
   */
  drain (): Promise<void> {
    if (this.state === 'detached') return Promise.reject(new ReloadError('ERR_RELOAD_DETACHED', 'drain() called after detach(); close the servers yourself'))
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

  /**
   * Hands the servers back to the app: removes every signal handler and `listen` wrapper reload
   * installed; no handover or drain happens from now on (state `detached`). For an app that closes its
   * servers itself. Idempotent; a drain already under way goes on.
   */
  detach (): void {
    this.#upgrader.detach()
    for (const uninstall of this.#uninstall.splice(0)) uninstall()
  }

  #start (): void {
    if (this.#started) return
    this.#started = true
    const { signal, shutdownSignals } = this.#options
    if (signal !== false && process.platform !== 'win32') this.#uninstall.push(onSignals([signal], this.#onUpgradeSignal))
    if (shutdownSignals !== false) this.#uninstall.push(onSignals(shutdownSignals, this.#onShutdownSignal))
  }

  #detachServer (server: Server, own?: PropertyDescriptor): void {
    this.#ledgers.get(server)?.detach()
    this.#ledgers.delete(server)
    if (own !== undefined) Object.defineProperty(server, 'listen', own)
    else Reflect.deleteProperty(server, 'listen')
  }

  #onListened (): void {
    if (!this.#options.autoReady || this.state !== 'starting') return
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
    // The parent stops this generation now; it must not report ready meanwhile.
    this.#upgrader.failStart(`listen failed: ${err.message}`).catch(this.#fatal)
  }

  readonly #onUpgradeSignal = (signal: NodeJS.Signals): void => {
    const refused = this.#upgrader.refusal()
    if (refused !== undefined) {
      const why: Record<string, string> = {
        ERR_RELOAD_NOT_READY: 'this generation is not ready yet',
        ERR_RELOAD_IN_PROGRESS: 'a handover is already in progress',
        ERR_RELOAD_DRAINING: this.state === 'stopped' ? 'this generation is exiting' : 'this generation is draining; signal the one that serves now'
      }
      this.#log.warn({}, `${signal} ignored: ${why[refused.code] ?? refused.message}`)
      return
    }
    this.#log.info({}, `${signal} received`)
    this.upgrade().catch(() => {})
  }

  readonly #onShutdownSignal = (signal: NodeJS.Signals): void => {
    this.#shutdownSignals++
    if (this.#retiring !== undefined) {
      if (this.#shutdownSignals === 1) {
        this.#log.info({}, `${signal} received while draining; send it again to exit now`)
        return
      }
      if (this.#force.signal.aborted) return
      this.#log.warn({}, `second ${signal}: cutting what is left and exiting now`)
      this.#force.abort()
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
    // A new generation stopped before it was ready shares its unix paths with the one that serves.
    const wasLast = reason === 'shutdown' && (this.#upgrader.wasReady || !this.hasParent)
    if (reason === 'shutdown') this.#upgrader.retire()
    const { code, cut } = await shutdown({
      ledgers: [...this.#ledgers.values()],
      hooks: [...this.#beforeExit],
      delay: wasLast ? this.#options.shutdownDelay : 0,
      budget: this.#options.drainTimeout,
      log: this.#log,
      force: this.#force.signal,
      onDrain: () => this.emit('drain', { reason })
    })
    if (wasLast) this.#removeFiles()
    this.#upgrader.stopped()
    for (const uninstall of this.#uninstall.splice(0)) uninstall()
    this.emit('exit', { code, cut })
    this.#log.info({ code }, 'exiting')
    this.#upgrader.letGo()
    if (this.#options.exit) process.exit(code)
  }

  // Only the last generation removes the socket paths and the pid file: at a handover they are the next one's.
  #removeFiles (): void {
    if (this.#options.pidFile !== undefined) removePidFile(this.#options.pidFile)
    for (const path of this.#listeners.paths) removeSocket(path)
  }
}

const key = Symbol.for('@reload/core')

/**
 * The process's {@link Reloader}, created by the first call; later calls return the same one, so adapters
 * and the app share it (even across two copies of this package). Options given before the first server
 * is attached are merged; after that a call that would change one throws.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when an option is invalid, or changes too late.
 * @throws {ReloadError} `ERR_RELOAD_NODE_INTERNALS` when this Node.js changed what reload relies on.
 */
export function reloader (options?: ReloadOptions): Reloader {
  const holder = globalThis as { [key]?: Reloader }
  const existing = holder[key]
  if (existing !== undefined) {
    if (options !== undefined) existing.configure(options)
    return existing
  }
  const created = new Reloader(options)
  holder[key] = created
  return created
}
