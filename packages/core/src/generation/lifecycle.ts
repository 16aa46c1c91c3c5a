import { ReloadError } from '../errors.js'
import { debug } from '../log.js'
import type { Role } from './role.js'
import type { WayBack } from './wayback.js'

/**
 * Where a generation is in its life: `starting` until ready (and again once every server is detached),
 * `ready` while serving, `upgrading` while a new generation starts, `draining` once it stops accepting,
 * `stopped` when the drain is over.
 */
export type ReloadState = 'starting' | 'ready' | 'upgrading' | 'draining' | 'stopped'

/** Why a generation drains: a handover to the next one, or a shutdown (signal or `drain()`). */
export type DrainReason = 'upgrade' | 'shutdown'

// Every state change goes through #to(), against this table: the whole lifecycle on one screen.
const transitions: Record<ReloadState, readonly ReloadState[]> = {
  starting: ['ready', 'draining'],
  ready: ['upgrading', 'draining', 'starting'],
  upgrading: ['ready', 'draining', 'starting'],
  // Back to ready: the way back, when the next generation died while this one drained.
  draining: ['stopped', 'ready'],
  stopped: []
}

/**
 * The one owner of a generation's lifecycle: its state, whether it has servers (and so its signals), the
 * handover under way, the drain (its reason, its promise, the exit code it may not go below) and the way
 * back. Nothing else writes any of it; everything else asks here, including the one "may we reload now"
 * check ({@link refusal}).
 */
export class Lifecycle {
  readonly #role: Role
  readonly #hasParent: boolean
  #state: ReloadState = 'starting'
  #wasReady = false
  #armed = false
  #handover: AbortController | undefined
  #retiring: Promise<void> | undefined
  #drainReason: DrainReason | undefined
  #exitFloor = 0
  #wayBack: WayBack | undefined

  constructor (role: Role, hasParent: boolean) {
    this.#role = role
    this.#hasParent = hasParent
  }

  get state (): ReloadState { return this.#state }
  /** Whether this generation stopped accepting for good (draining, or done). */
  get isRetiring (): boolean { return this.#state === 'draining' || this.#state === 'stopped' }
  /** Whether this generation ever reported ready (a generation stopped before ready shares files with the one that serves). */
  get wasReady (): boolean { return this.#wasReady }
  /** Whether a server is attached: the signals are reload's while it is. */
  get isArmed (): boolean { return this.#armed }
  /** The reason of the drain under way, once its listeners close. */
  get drainReason (): DrainReason | undefined { return this.#drainReason }
  /** The lowest exit code: 1 once this generation failed its start, even if its drain went well. */
  get exitFloor (): number { return this.#exitFloor }
  /** The way back of the handover this generation drains for, if it has one. */
  get wayBack (): WayBack | undefined { return this.#wayBack }

  #to (next: ReloadState): void {
    if (!transitions[this.#state].includes(next)) throw new Error(`reload: no transition from ${this.#state} to ${next}`)
    debug('state %s -> %s', this.#state, next)
    this.#state = next
  }

  /** The first server attached. False when one already was. */
  arm (): boolean {
    if (this.#armed) return false
    this.#armed = true
    return true
  }

  /** No server left: back to `starting`, abandoning a handover in progress (a drain already under way goes on). */
  disarm (): void {
    this.#armed = false
    if (this.isRetiring) return
    this.#handover?.abort('left with no server to hand over (detach)')
    if (this.#state !== 'starting') this.#to('starting')
  }

  /** Why a handover cannot start now, or undefined when it can: the one check, for `upgrade()` and signals alike. */
  refusal (): ReloadError | undefined {
    const refused = this.#role.upgradeRefusal()
    if (refused !== undefined) return refused
    if (process.platform === 'win32') {
      return new ReloadError('ERR_RELOAD_UNSUPPORTED_PLATFORM', 'reload cannot hand listeners over on Windows: the app keeps running; restart it to deploy')
    }
    switch (this.#state) {
      case 'ready': return undefined
      case 'starting': return new ReloadError('ERR_RELOAD_NOT_READY', 'upgrade() called before this generation was ready; wait for the ready event, or call ready() once every server listens')
      case 'upgrading': return new ReloadError('ERR_RELOAD_IN_PROGRESS', 'a handover is already in progress; wait for it to finish, then upgrade again')
      default: return new ReloadError('ERR_RELOAD_DRAINING', `this generation (pid ${process.pid}) is draining; upgrade the generation that now serves`)
    }
  }

  /** `starting` to `ready`. False when this generation is past starting. */
  ready (): boolean {
    if (this.#state !== 'starting') return false
    this.#to('ready')
    this.#wasReady = true
    return true
  }

  /**
   * A start that failed (a listen error, a pid file it cannot write): the exit code will say so, and with
   * a parent waiting this generation moves to `draining` at once, so it never reports ready. True when a
   * parent waits to be told why.
   */
  failStart (): boolean {
    this.#exitFloor = 1
    if (this.#state !== 'starting' || !this.#hasParent) return false
    this.#to('draining')
    return true
  }

  /** `ready` to `upgrading`; the signal aborts when the handover is abandoned (a shutdown, or no server left). */
  beginHandover (): AbortSignal {
    this.#to('upgrading')
    this.#handover = new AbortController()
    return this.#handover.signal
  }

  /** The handover failed or was abandoned: `ready` again, unless a shutdown or a detach came meanwhile. */
  handoverFailed (): void {
    this.#handover = undefined
    if (this.#state === 'upgrading') this.#to('ready')
  }

  /** The next generation is ready: `draining`, with the way back (if one could be had) until the drain is over. */
  handedOver (wayBack: WayBack | undefined): void {
    this.#handover = undefined
    this.#wayBack = wayBack
    this.#to('draining')
  }

  /**
   * The drain and exit, started once: `run` is called for the first reason given, and every later call
   * gets the same promise. A shutdown abandons a handover in progress.
   */
  retire (reason: DrainReason, run: (reason: DrainReason) => Promise<void>): Promise<void> {
    if (this.#retiring !== undefined) return this.#retiring
    if (reason === 'shutdown' && !this.isRetiring) {
      this.#handover?.abort('shutting down')
      this.#to('draining')
    }
    this.#retiring = run(reason)
    return this.#retiring
  }

  /** The listeners close now: the drain's reason is known to the app from here (WebSocket close codes). */
  drainBegan (reason: DrainReason): void {
    this.#drainReason = reason
  }

  /** The way back was taken: the next generation died, this one has its listeners again and serves. */
  tookBack (): void {
    this.#wayBack = undefined
    this.#retiring = undefined
    this.#drainReason = undefined
    this.#to('ready')
  }

  /** `draining` to `stopped`: the drain is over, and with it any way back. */
  stopped (): void {
    this.#wayBack = undefined
    this.#to('stopped')
  }
}
