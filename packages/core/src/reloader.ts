import { EventEmitter } from 'node:events'
import type { ListenOptions, Server } from 'node:net'
import { ReloadError } from './errors.js'
import { takeInheritance } from './fds.js'
import { checkInternals } from './internals.js'
import { GoAway } from './goaway.js'
import { launch, wrapperWarning } from './launch.js'
import type { Cut } from './ledger.js'
import { Listeners, removeSocket, type Binding, type ReloadListenOptions } from './listeners.js'
import { debug, stderrLogger, toLogger, type Logger } from './log.js'
import { changedOption, resolveOptions, type ReloadOptions, type ResolvedOptions } from './options.js'
import { ParentLink } from './parent.js'
import { removePidFile, writePidFile } from './pidfile.js'
import { roleOf, type Role } from './role.js'
import { served } from './served.js'
import { Servers } from './servers.js'
import { shutdown } from './shutdown.js'
import { foreignListeners, installSignals } from './signals.js'
import { Upgrader, type ChildDeath, type ReloadState, type UpgradeResult } from './upgrader.js'
import { delay } from './timers.js'
import { WayBack } from './wayback.js'

export type { ReloadState, UpgradeResult } from './upgrader.js'

/** Why a generation drains: a handover to the next one, or a shutdown (signal or `drain()`). */
export type DrainReason = 'upgrade' | 'shutdown'

/** The events of a {@link Reloader}. */
export interface ReloadEvents {
  ready: [{ pid: number, generation: number }]
  /** A handover begins (a signal or `upgrade()`); `upgrade` or `upgradeFailed` follows. */
  upgradeStart: [{ generation: number }]
  upgrade: [UpgradeResult]
  upgradeFailed: [ReloadError]
  drain: [{ reason: DrainReason }]
  exit: [{ code: number, cut: Cut }]
  /** The generation that started this one has finished its drain (or died). */
  parentExit: [{ pid: number }]
  /**
   * The way back: the next generation died while this one drained, and this one took the listeners back
   * and serves again.
   */
  rollback: [ChildDeath & { generation: number }]
}

/**
 * One per process (get it with {@link reloader}): the servers this generation serves, their ledgers,
 * signals, and the drain. The handover state itself belongs to its {@link Upgrader}.
 */
export class Reloader extends EventEmitter<ReloadEvents> {
  /** 1 for a process started by hand, n + 1 for the one generation n started. */
  readonly generation: number
  /**
   * The pid of the `reload run` keeper this process is a worker of. The keeper holds the listeners and
   * replaces workers itself, so a worker never starts a generation: its reload signal goes to the keeper.
   */
  readonly keeper: number | undefined
  readonly #upgrader: Upgrader
  readonly #role: Role
  readonly #listeners: Listeners
  readonly #servers: Servers
  readonly #beforeExit = new Set<() => unknown>()
  readonly #uninstall: Array<() => void> = []
  readonly #force = new AbortController()
  readonly #goAway = new GoAway()
  // Where the first generation was launched, taken when @reload/core was imported (an app's chdir() later
  // does not move it): the launch command line's relative paths resolve there.
  readonly #cwd = launch.cwd
  #given: ReloadOptions
  #options: ResolvedOptions
  #log: Logger
  #started = false
  #retiring: Promise<void> | undefined
  #upgradeHandler: ((signal: NodeJS.Signals) => void) | undefined
  #wayBack: WayBack | undefined
  #drainReason: DrainReason | undefined
  /** Raised when this generation fails its start: its exit code says so even if its drain went well. */
  #exitFloor = 0

  /** Use {@link reloader}: a second instance in one process would find no listener to inherit. */
  constructor (options: ReloadOptions = {}) {
    super()
    checkInternals()
    this.#options = resolveOptions(options)
    this.#given = { ...options }
    this.#log = toLogger(this.#options.logger ?? stderrLogger)
    const inheritance = takeInheritance()
    this.generation = inheritance.generation
    this.#role = roleOf(inheritance.keeper)
    this.keeper = this.#role.keeper
    const parent = new ParentLink(inheritance.readyFd)
    served.start()
    if (parent.pid !== undefined) {
      const pid = parent.pid
      parent.waitForExit().then(() => {
        this.emit('parentExit', { pid })
        // A worker whose keeper died must not live on: it would hold the port against the keeper's restart.
        if (this.#role.drainsWithParent && this.#started && !this.isDraining) {
          this.#log.warn({ keeper: pid }, `the keeper (pid ${pid}) is gone: this worker drains and exits`)
          this.#retire('shutdown').catch(this.#fatal)
        }
      }, this.#fatal)
    }
    parent.answer = (question) => {
      switch (question.type) {
        case 'status':
          return { type: 'status', requests: this.requests, connections: this.connections, state: this.state, served: served.count, heap: process.memoryUsage().heapUsed }
        // Answered from the event loop on purpose: a loop that is stuck (or a stopped process) says nothing.
        case 'ping': return { type: 'pong' }
        case 'drain':
          // The keeper's own word to drain: it holds even when the app removed reload's SIGTERM listener.
          if (this.#role.drainsOnRequest && this.#started && !this.isDraining) this.#retire('shutdown').catch(this.#fatal)
          return undefined
      }
    }
    this.#upgrader = new Upgrader(parent, {
      generation: this.generation,
      readyTimeout: () => this.#options.readyTimeout,
      drainTimeout: () => this.#options.drainTimeout,
      childDied: (death) => { this.#takeBack(death).catch(this.#fatal) },
      cwd: () => this.#options.cwd ?? this.#cwd,
      log: () => this.#log
    })
    this.#listeners = new Listeners(inheritance.fds, { byPortAlone: this.#role.byPortAlone }, {
      settled: () => this.#onListened(),
      error: (err, server) => this.#onListenError(err, server),
      // Node removes a socket path when its server closes; reload's rename keeps it, so a close that
      // is the app's own, not a handover, removes it here.
      closed: ({ path }) => { if (path !== undefined && !this.#upgrader.isRetiring) removeSocket(path) },
      stale: (path) => this.#log.warn({ path }, 'replacing a stale unix socket: nothing accepts on it (its server was killed?)')
    })
    // No server left: nothing for a signal to hand over or drain, so the signals are the app's again.
    this.#servers = new Servers(this.#listeners, () => { if (this.#started && !this.isDraining) this.#stop() })
    for (const warning of inheritance.warnings) this.#log.warn({}, warning)
    // A first generation under npm, tsx or nodemon: the wrapper exits with it after the first handover.
    const wrapper = this.generation === 1 && !this.hasParent ? wrapperWarning() : undefined
    if (wrapper !== undefined) this.#log.warn({ parent: wrapper.parent }, wrapper.message)
    debug('generation %d, inherited %o', this.generation, inheritance.fds.map((fd) => `${fd.fd}=${fd.name}`))
  }

  get state (): ReloadState { return this.#upgrader.state }
  get isDraining (): boolean { return this.#upgrader.isRetiring }
  /** Whether a previous generation started this one. */
  get hasParent (): boolean { return this.#upgrader.parent.exists }
  /** The pid of the generation that started this one while it still drains; `undefined` once it exited. */
  get parentPid (): number | undefined { return this.#upgrader.parent.pid }
  /** Requests in flight across every attached server. */
  get requests (): number { return this.#servers.requests }
  /** Open connections across every attached server. */
  get connections (): number { return this.#servers.connections }

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
   * The first server attached installs the signal handlers; detaching the last one removes them.
   * Returns the uninstaller.
   */
  attach<S extends Server>(server: S, options: { optional?: boolean } = {}): () => void {
    this.#start()
    return this.#servers.attach(server, { optional: options.optional === true, idleGrace: this.#options.idleGrace, goAway: this.#goAway })
  }

  /** Whether `server` is attached (its `listen()` takes inherited listeners, its ledger drains it). */
  isAttached (server: Server): boolean { return this.#servers.original(server) !== undefined }

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
    // The pid file must never name a dead process while a live one serves: a generation that cannot
    // write it does not serve. At a handover the old one, still named there, serves on.
    if (this.#options.pidFile !== undefined && this.#role.ownsFiles) {
      try {
        writePidFile(this.#options.pidFile)
      } catch (err) {
        const why = `could not write pidFile ${this.#options.pidFile} (${(err as Error).message})`
        this.#log.error({ code: 'ERR_RELOAD_PID_FILE' }, `${why}; ${this.hasParent ? 'the serving generation goes on' : 'not serving'}: ` +
          'make its folder writable by this user, or change the pidFile option')
        this.#failStart(why)
        return
      }
    }
    const closed = this.#listeners.closeUnclaimed()
    if (closed.length > 0 && this.#role.failsOnUnclaimed) {
      // A keeper's worker that leaves one of its sockets alone serves somewhere nobody sends traffic.
      const listening = this.#listeners.bindings.map((b) => b.name).join(', ') || 'nothing'
      const why = `this app does not listen on the keeper's ${closed.join(', ')} (it listens on ${listening}); ` +
        'make it listen on the --listen address (same port, or port 0), or change --listen'
      this.#log.error({ code: 'ERR_RELOAD_LISTEN' }, why)
      this.#failStart(why)
      return
    }
    if (closed.length > 0) this.#log.info({ names: closed.join(',') }, 'closed inherited listeners the new code does not use')
    if (!await this.#upgrader.ready()) return
    const listening = this.#listeners.bindings.map((b) => b.name).join(',') || 'none'
    this.#log.info({ generation: this.generation, listening }, `generation ${this.generation} ready`)
    this.#warnForeignListeners()
    this.emit('ready', { pid: process.pid, generation: this.generation })
  }

  /**
   * Starts the next generation with this one's listeners and, once it is ready, drains this one.
   * Resolves when the next generation is ready; rejects with a coded {@link ReloadError} otherwise, and
   * this generation goes on serving as before.
   */
  async upgrade (): Promise<UpgradeResult> {
    const refused = this.#role.upgradeRefusal() ?? this.#upgrader.refusal()
    if (refused !== undefined) throw refused
    const handed = this.#listeners.bindings.filter((b) => b.fd >= 0)
    const listeners = handed.map(({ fd, name }) => ({ fd, name }))
    this.emit('upgradeStart', { generation: this.generation + 1 })
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
    this.#log.info({ child: result.pid, ms: result.ms }, `generation ${result.generation} ready; pid ${process.pid} drains`)
    this.#holdForWayBack(handed)
    this.emit('upgrade', result)
    this.#retire('upgrade').catch(this.#fatal)
    return result
  }

  /**
   * Shuts this generation down: stops accepting, lets what it took finish, runs the `beforeExit` hooks,
   * and exits (unless `exit: false`), all within `drainTimeout`. Resolves when the drain is over. Idempotent.
   */
  drain (): Promise<void> {
    return this.#retire('shutdown')
  }

  /**
   * Calls `close` once this generation drains, at a random moment within `goAwayWindow` (within what is
   * left of it if the drain already began), so that the clients of long-lived connections reconnect to
   * the next generation spread out. For a protocol reload does not know (Socket.IO, a custom stream):
   * `close` should end the connection politely, the way its clients expect. Returns the canceller: call it
   * when the connection ends by itself. The way back (a next generation that died) cancels what was not
   * yet called and keeps it for the next drain.
   */
  goingAway (close: () => void): () => void {
    if (typeof close !== 'function') throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `goingAway() takes a function that closes one connection, instead got ${typeof close}`)
    return this.#goAway.schedule(close)
  }

  /** The reason of the drain under way, if any: whether it is a handover or a shutdown. */
  get drainReason (): DrainReason | undefined { return this.#drainReason }

  /**
   * Runs `hook` once the drain is over and before exit (close pools and the like), within what is left
   * of `drainTimeout`. Returns the uninstaller.
   */
  beforeExit (hook: () => unknown): () => void {
    this.#beforeExit.add(hook)
    return () => this.#beforeExit.delete(hook)
  }

  /**
   * Hands every server back to the app: removes each `listen` wrapper and the signal handlers, and goes
   * back to `starting` (a handover under way is abandoned). For an app that closes its servers itself;
   * attaching a server again starts anew. Idempotent; a drain already under way goes on.
   */
  detach (): void {
    this.#servers.detachAll()
    this.#stop()
  }

  #stop (): void {
    for (const uninstall of this.#uninstall.splice(0)) uninstall()
    this.#started = false
    this.#upgrader.reset()
  }

  #start (): void {
    if (this.#started) return
    this.#started = true
    const role = this.#role
    const refusals: Record<string, string> = {
      ERR_RELOAD_NOT_READY: 'this generation is not ready yet',
      ERR_RELOAD_IN_PROGRESS: 'a handover is already in progress'
    }
    const signals = installSignals(this.#options.signal, this.#options.shutdownSignals, {
      refusal: () => {
        if (!role.reportsRefusals) return undefined
        const refused = this.#upgrader.refusal()
        if (refused === undefined) return undefined
        if (refused.code !== 'ERR_RELOAD_DRAINING') return refusals[refused.code] ?? refused.message
        return this.state === 'stopped' ? 'this generation is exiting' : 'this generation is draining; signal the one that serves now'
      },
      upgrade: () => { role.onReloadSignal(() => { this.upgrade().catch(() => {}) }, this.#log) },
      isRetiring: () => this.#retiring !== undefined,
      shutdown: () => { this.#retire('shutdown').catch(this.#fatal) },
      force: () => this.#force.abort()
    }, () => this.#log)
    this.#upgradeHandler = signals.upgradeHandler
    this.#uninstall.push(signals.uninstall)
  }

  #onListened (): void {
    if (!this.#options.autoReady || this.state !== 'starting') return
    // Let listen() calls made in the same turn (a second server, another address) start first.
    setImmediate(() => {
      if (this.#listeners.pending === 0 && this.#listeners.bindings.length > 0) this.ready().catch(this.#fatal)
    })
  }

  #onListenError (err: Error, server: Server): void {
    if (this.#servers.isOptional(server)) {
      this.#log.info({}, `${err.message}; serving without it`)
      return
    }
    if (this.state === 'starting' && this.hasParent) this.#failStart(`listen failed: ${err.message}`)
  }

  // A start that fails never reports ready: the parent (if any) hears why and serves on, and this
  // generation finishes what it took and exits 1.
  #failStart (reason: string): void {
    this.#upgrader.failStart(reason)
    this.#exitFloor = 1
    this.#retire('shutdown').catch(this.#fatal)
  }

  // Before this generation closes its listening sockets, a holder takes copies: if the next generation
  // dies during the drain, they come back with every queued connection.
  #holdForWayBack (bindings: Binding[]): void {
    if (bindings.length === 0) return
    try {
      this.#wayBack = WayBack.hold(bindings)
    } catch (err) {
      this.#log.warn({ err }, `no way back for this handover: could not start the socket holder (${(err as Error).message})`)
    }
  }

  async #takeBack (death: ChildDeath): Promise<void> {
    const wayBack = this.#wayBack
    if (wayBack === undefined || !wayBack.isOpen) return
    const next = this.generation + 1
    this.#log.warn({ child: death.pid }, `generation ${next} died (${death.signal ?? `code ${death.code ?? '?'}`}) while pid ${process.pid} drained: taking the listeners back`)
    try {
      if (!await wayBack.takeBack(this.#listeners, this.#servers, () => this.state === 'draining')) return
    } catch (err) {
      this.#log.error({ err }, `could not take the listeners back (${(err as Error).message}); this generation drains and exits`)
      return
    }
    this.#wayBack = undefined
    this.#retiring = undefined
    this.#drainReason = undefined
    this.#goAway.reset()
    this.#upgrader.resume()
    if (this.#options.pidFile !== undefined) {
      try { writePidFile(this.#options.pidFile) } catch (err) { this.#log.error({ code: 'ERR_RELOAD_PID_FILE' }, `could not write pidFile ${this.#options.pidFile} (${(err as Error).message})`) }
    }
    this.#log.warn({ generation: this.generation }, `generation ${this.generation} serves again`)
    this.emit('rollback', { ...death, generation: next })
  }

  // A failure in a path nobody awaits: say so, and make the process's exit code show it.
  readonly #fatal = (err: unknown): void => {
    this.#log.error({ err }, `reload failed: ${(err as Error)?.stack ?? String(err)}`)
    process.exitCode = 1
  }

  #warnForeignListeners (): void {
    const signal = this.#options.signal
    if (signal === false || this.#upgradeHandler === undefined || foreignListeners(signal, this.#upgradeHandler) === 0) return
    this.#log.warn({ signal }, `another ${signal} listener is installed (a shutdown helper such as close-with-grace?); ` +
      `it may stop the app on reload: make it skip ${signal}, or set reload's signal option to another signal`)
  }

  // Upgraded connections that nothing will tell to go away stay open until drainTimeout, then are cut.
  #warnUpgraded (): void {
    const upgraded = this.#servers.upgraded
    if (upgraded === 0 || this.#goAway.size >= upgraded) return
    this.#log.warn({ upgraded }, `${upgraded} upgraded connections (WebSockets?) are open and nothing closes them: they keep this generation ` +
      `until drainTimeout (${this.#options.drainTimeout} ms), then are cut. Close them politely with trackWebSockets(wss) ` +
      'from @reload/core, or reloader().goingAway() for another protocol')
  }

  #retire (reason: DrainReason): Promise<void> {
    this.#retiring ??= this.#drainAndExit(reason)
    return this.#retiring
  }

  async #drainAndExit (reason: DrainReason): Promise<void> {
    // A new generation stopped before it was ready shares its unix paths with the one that serves.
    // Under a keeper, the keeper owns the socket paths and the pid file, and its workers never wait for a
    // load balancer: the socket stays open through them all.
    const wasLast = reason === 'shutdown' && this.#role.ownsFiles && (this.#upgrader.wasReady || !this.hasParent)
    if (reason === 'shutdown') this.#upgrader.retire()
    if (reason === 'shutdown' && this.parentPid !== undefined) this.#upgrader.parent.stopping().catch(this.#fatal)
    const wayBack = reason === 'upgrade' ? this.#wayBack : undefined
    const { code: drained, cut, cancelled } = await shutdown({
      ledgers: this.#servers.ledgers,
      hooks: [...this.#beforeExit],
      delay: wasLast ? this.#options.shutdownDelay : 0,
      budget: this.#options.drainTimeout,
      log: this.#log,
      force: this.#force.signal,
      onDrain: () => {
        this.#drainReason = reason
        this.#goAway.begin(this.#options.goAwayWindow)
        this.emit('drain', { reason })
        this.#warnUpgraded()
        // The ledgers close the listeners right after this returns, in the same turn.
        if (this.#role.reportsDrain) queueMicrotask(() => { this.#upgrader.parent.closedListeners().catch(this.#fatal) })
      },
      cancel: wayBack?.cancelled ?? new AbortController().signal,
      // Past here the hooks (Fastify's app.close()) may have closed what the way back would need.
      onHooks: () => wayBack?.close()
    })
    if (cancelled) return
    wayBack?.close()
    const code = Math.max(drained, this.#exitFloor)
    if (wasLast) this.#removeFiles()
    this.#upgrader.stopped()
    this.#servers.detachAll()
    // Until process.exit() the handlers stay: without them a SIGHUP in the last moment would end the
    // process by its default action instead of with this exit code.
    if (!this.#options.exit) for (const uninstall of this.#uninstall.splice(0)) uninstall()
    this.emit('exit', { code, cut })
    this.#log.info({ code }, 'exiting')
    // The keeper names how each worker ended (drained, or cut N) and exits non-zero for a cut shutdown.
    if (this.#role.reportsDrain) await Promise.race([this.#upgrader.parent.drained(cut), delay(200)])
    // With exit: true the kernel closes the link when this process is really gone, so the next generation
    // never starts a third one while this one still runs its exit handlers.
    if (this.#options.exit) process.exit(code)
    this.#upgrader.letGo()
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
