import type { Server } from 'node:net'
import type { ReloadError } from '../errors.js'
import { takeInheritance } from '../protocol/fds.js'
import { GoAway } from '../drain/goaway.js'
import { Handover, type ChildDeath, type UpgradeResult } from './handover.js'
import { checkInternals } from '../node/internals.js'
import { launch, wrapperWarning } from '../protocol/launch.js'
import type { Cut } from '../drain/ledger.js'
import { Lifecycle, type DrainReason } from './lifecycle.js'
import { Handoff } from '../listen/handoff.js'
import { Listeners } from '../listen/listeners.js'
import { removeSocket } from '../listen/unix.js'
import { debug, stderrLogger, toLogger, type Logger } from '../log.js'
import { resolveOptions, type ReloadOptions, type ResolvedOptions } from './options.js'
import { ParentLink } from '../protocol/parent.js'
import { startFailure } from './readiness.js'
import { drainAndExit, takeBack, type Parts } from './retire.js'
import { roleOf, type Role } from './role.js'
import { served } from '../drain/served.js'
import { Servers } from '../listen/servers.js'
import { installSignals } from './signals.js'
import { foreignListenerWarning, signalRefusals, upgradedWarning, watchForSocketIO } from './warnings.js'

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

export type Emit = <K extends keyof ReloadEvents>(event: K, ...args: ReloadEvents[K]) => void

/**
 * This process's generation, assembled: what it inherited, and the parts that each own their state (the
 * {@link Lifecycle}, the {@link Handover}, the {@link Listeners} and {@link Servers}, the link to its
 * parent). It reacts to what happens (signals, listens, a death of the next generation, the keeper's
 * questions) by calling those parts; {@link Reloader} is its documented face.
 */
export class Generation implements Parts {
  readonly number: number
  /** How many workers run on the same sockets: the keeper's `--workers`, or 1. */
  readonly workers: number
  readonly life: Lifecycle
  readonly role: Role
  readonly parent: ParentLink
  readonly handover: Handover
  readonly listeners: Listeners
  /** Set when a balancing keeper hands this worker its connections. */
  readonly handoff: Handoff | undefined
  readonly servers: Servers
  readonly goAway = new GoAway()
  readonly beforeExit = new Set<() => unknown>()
  readonly uninstall: Array<() => void> = []
  readonly #force = new AbortController()
  readonly #emit: Emit
  // Where the first generation was launched (an app's chdir() does not move it): the command's relative paths resolve there.
  readonly #cwd = launch.cwd
  #options: ResolvedOptions
  #log: Logger
  #upgradeHandler: ((signal: NodeJS.Signals) => void) | undefined
  #heardSignal = false
  /** Why this server must not serve: it runs under a wrapper that a keeper started as its worker. */
  readonly wrapped: string | undefined

  constructor (options: ReloadOptions, emit: Emit) {
    const inheritance = takeInheritance()
    checkInternals(inheritance.checkedNode)
    this.#emit = emit
    this.#options = resolveOptions(options)
    this.#log = toLogger(this.#options.logger ?? stderrLogger)
    this.number = inheritance.generation
    this.workers = inheritance.workers
    this.role = roleOf(inheritance.keeper)
    this.parent = new ParentLink(inheritance.readyFd)
    this.life = new Lifecycle(this.role, this.parent.exists)
    served.start()
    watchForSocketIO((message) => this.#log.warn({}, message))
    this.handover = new Handover(this.life, this.parent, {
      generation: this.number,
      readyTimeout: () => this.#options.readyTimeout,
      drainTimeout: () => this.#options.drainTimeout,
      cwd: () => this.#options.cwd ?? this.#cwd,
      log: () => this.#log,
      childDied: (death) => { this.#takeBack(death).catch(this.fatal) }
    })
    this.handoff = inheritance.handoff && Handoff.available() ? new Handoff() : undefined
    this.listeners = new Listeners(inheritance.fds, { byPortAlone: this.role.byPortAlone, handoff: this.handoff }, {
      settled: () => this.#onListened(),
      error: (err, server) => this.#onListenError(err, server),
      // Node removes a socket path when its server closes; reload's rename keeps it, so a close that
      // is the app's own, not a handover, removes it here.
      closed: ({ path }) => { if (path !== undefined && !this.life.isRetiring) removeSocket(path) },
      stale: (path) => this.#log.warn({ path }, 'replacing a stale unix socket: nothing accepts on it (its server was killed?)')
    })
    // No server left: nothing for a signal to hand over or drain, so the signals are the app's again.
    this.servers = new Servers(this.listeners, () => { if (this.life.isArmed && !this.life.isRetiring) this.disarm() })
    if (this.parent.pid !== undefined) this.#watchParent(this.parent.pid)
    this.parent.answer = (question) => this.role.answer(question, {
      status: () => ({ requests: this.servers.requests, connections: this.servers.connections, state: this.life.state }),
      drain: () => { if (this.life.isArmed && !this.life.isRetiring) this.retire('shutdown').catch(this.fatal) },
      force: () => { if (this.life.isRetiring) this.#force.abort() }
    })
    for (const warning of inheritance.warnings) this.#log.warn({}, warning)
    // A first generation under npm, tsx or nodemon: the wrapper exits with it after the first handover.
    const wrapper = this.number === 1 && !this.parent.exists ? wrapperWarning() : undefined
    if (wrapper?.keeper !== undefined) this.wrapped = wrapper.message
    else if (wrapper !== undefined) this.#log.warn({ parent: wrapper.parent }, wrapper.message)
    debug('generation %d, inherited %o', this.number, inheritance.fds.map((fd) => `${fd.fd}=${fd.name}`))
  }

  get force (): AbortSignal { return this.#force.signal }
  get heardSignal (): boolean { return this.#heardSignal }
  options (): ResolvedOptions { return this.#options }
  log (): Logger { return this.#log }

  /** Takes options resolved by the caller, before the first server is attached. */
  setOptions (options: ResolvedOptions): void {
    this.#options = options
    this.#log = toLogger(options.logger ?? stderrLogger)
  }

  /** The first server attached installs reload's signals, until the last one goes. */
  arm (): void { if (this.life.arm()) this.#installSignals() }

  disarm (): void {
    for (const uninstall of this.uninstall.splice(0)) uninstall()
    this.life.disarm()
  }

  async ready (): Promise<void> {
    if (this.life.state !== 'starting') return
    const failed = startFailure(this)
    if (failed !== undefined) {
      this.#log.error({ code: failed.code }, failed.message)
      this.#failStart(failed.why)
      return
    }
    if (!this.life.ready()) return
    await this.parent.ready(this.handoff?.listeners)
    const listening = this.listeners.bindings.map((b) => b.name).join(',') || 'none'
    this.#log.info({ generation: this.number, listening }, `generation ${this.number} ready`)
    const signal = this.#options.signal
    const foreign = signal === false || this.#upgradeHandler === undefined ? undefined : foreignListenerWarning(signal, this.#upgradeHandler)
    if (foreign !== undefined) this.#log.warn({ signal }, foreign)
    this.#emit('ready', { pid: process.pid, generation: this.number })
  }

  /** The handover itself, once {@link Lifecycle.refusal} said it may start (`upgrade()` or a signal asked, once). */
  async handOver (): Promise<UpgradeResult> {
    this.#emit('upgradeStart', { generation: this.number + 1 })
    let result: UpgradeResult
    try {
      result = await this.handover.start(this.listeners.bindings.filter((b) => b.fd >= 0))
    } catch (err) {
      const error = err as ReloadError
      const serving = this.life.state === 'ready'
      this.#log.error({ code: error.code }, `handover failed, pid ${process.pid} ${serving ? 'keeps serving' : 'drains'}: ${error.message}`)
      this.#emit('upgradeFailed', error)
      throw error
    }
    this.#log.info({ child: result.pid, ms: result.ms }, `generation ${result.generation} ready; pid ${process.pid} drains`)
    this.#emit('upgrade', result)
    this.retire('upgrade').catch(this.fatal)
    return result
  }

  retire (reason: DrainReason): Promise<void> {
    return this.life.retire(reason, (r) => drainAndExit(r, this))
  }

  began (reason: DrainReason): void {
    this.#emit('drain', { reason })
    const warning = upgradedWarning(this.servers.upgraded, this.goAway.size, this.#options.drainTimeout)
    if (warning !== undefined) this.#log.warn({ upgraded: this.servers.upgraded }, warning)
  }

  ended (code: number, cut: Cut): void { this.#emit('exit', { code, cut }) }

  // A failure in a path nobody awaits: say so, and make the process's exit code show it.
  readonly fatal = (err: unknown): void => {
    this.#log.error({ err }, `reload failed: ${(err as Error)?.stack ?? String(err)}`)
    process.exitCode = 1
  }

  #installSignals (): void {
    const { life, role } = this
    const signals = installSignals(this.#options.signal, this.#options.shutdownSignals, {
      refusal: () => {
        // A worker passes every reload signal on to its keeper, which decides.
        if (!role.reportsRefusals) return undefined
        const refused = life.refusal()
        if (refused === undefined) return undefined
        if (refused.code !== 'ERR_RELOAD_DRAINING') return signalRefusals[refused.code] ?? refused.message
        return life.state === 'stopped' ? 'this generation is exiting' : 'this generation is draining; signal the one that serves now'
      },
      upgrade: () => { role.onReloadSignal(() => { this.handOver().catch(() => {}) }, this.#log) },
      isRetiring: () => life.isRetiring,
      shutdown: () => { this.retire('shutdown').catch(this.fatal) },
      force: () => this.#force.abort(),
      heard: () => { this.#heardSignal = true }
    }, () => this.#log)
    this.#upgradeHandler = signals.upgradeHandler
    this.uninstall.push(signals.uninstall)
  }

  #watchParent (pid: number): void {
    this.parent.waitForExit().then(() => {
      this.#emit('parentExit', { pid })
      // A worker whose keeper died must not live on: it would hold the port against the keeper's restart.
      if (this.role.drainsWithParent && this.life.isArmed && !this.life.isRetiring) {
        this.#log.warn({ keeper: pid }, `the keeper (pid ${pid}) is gone: this worker drains and exits`)
        this.retire('shutdown').catch(this.fatal)
      }
    }, this.fatal)
  }

  #onListened (): void {
    if (!this.#options.autoReady || this.life.state !== 'starting') return
    // Let listen() calls made in the same turn (a second server, another address) start first.
    setImmediate(() => {
      if (this.listeners.pending === 0 && this.listeners.bindings.length > 0) this.ready().catch(this.fatal)
    })
  }

  #onListenError (err: Error, server: Server): void {
    if (this.servers.isOptional(server)) {
      this.#log.info({}, `${err.message}; serving without it`)
      return
    }
    if (this.life.state === 'starting' && this.parent.exists) this.#failStart(`listen failed: ${err.message}`)
  }

  // A start that fails never reports ready: the parent (if any) hears why and serves on, and this
  // generation finishes what it took and exits 1.
  #failStart (reason: string): void {
    if (this.life.failStart()) this.parent.fail(reason).catch((err: unknown) => debug('telling parent: %s', err))
    this.retire('shutdown').catch(this.fatal)
  }

  async #takeBack (death: ChildDeath): Promise<void> {
    if (await takeBack(this, death)) this.#emit('rollback', { ...death, generation: this.number + 1 })
  }
}
