import { performance } from 'node:perf_hooks'
import { spawnGeneration, type Child } from './child.js'
import { ReloadError } from './errors.js'
import { debug, type Logger } from './log.js'
import type { ParentLink } from './parent.js'

/**
 * Where a generation is in its life: `starting` until ready, `ready` while serving, `upgrading` while a
 * new generation starts, `draining` once it stops accepting, `stopped` when the drain is over, and
 * `detached` once `detach()` handed the servers back to the app.
 */
export type ReloadState = 'starting' | 'ready' | 'upgrading' | 'draining' | 'stopped' | 'detached'

/** What `upgrade()` resolves with: the new generation, and how long it took from start to ready. */
export interface UpgradeResult { pid: number, generation: number, ms: number }

/** A listener handed to the next generation: its fd and the name that carries its address. */
export interface Handover { fd: number, name: string }

// Every state change goes through #to(), against this table: the whole lifecycle on one screen.
const transitions: Record<ReloadState, readonly ReloadState[]> = {
  starting: ['ready', 'draining', 'stopped', 'detached'],
  ready: ['upgrading', 'draining', 'detached'],
  upgrading: ['ready', 'draining', 'detached'],
  draining: ['stopped'],
  stopped: [],
  detached: []
}

export interface UpgraderOptions {
  generation: number
  readyTimeout: () => number
  cwd: () => string
  log: () => Logger
}

/**
 * The one owner of the handover state of a generation: its link to the generation that started it (the
 * child side), the start of the next one (the parent side), and every state change between.
 */
export class Upgrader {
  readonly parent: ParentLink
  readonly generation: number
  #state: ReloadState = 'starting'
  #spawn: AbortController | undefined
  #child: Child | undefined
  readonly #options: UpgraderOptions

  constructor (parent: ParentLink, options: UpgraderOptions) {
    this.parent = parent
    this.generation = options.generation
    this.#options = options
  }

  get state (): ReloadState { return this.#state }
  /** Whether this generation stopped accepting for good (draining, or done). */
  get isRetiring (): boolean { return this.#state === 'draining' || this.#state === 'stopped' }
  /** Whether this generation ever reported ready (a generation stopped before ready shares files with the one that serves). */
  wasReady = false

  #to (next: ReloadState): void {
    if (!transitions[this.#state].includes(next)) throw new Error(`reload: no transition from ${this.#state} to ${next}`)
    debug('state %s -> %s', this.#state, next)
    this.#state = next
  }

  /** `starting` to `ready`, telling the parent. False when this generation is past starting. */
  async ready (): Promise<boolean> {
    if (this.#state !== 'starting') return false
    this.#to('ready')
    this.wasReady = true
    await this.parent.ready()
    return true
  }

  /** A start-up failure (a listen error) while a parent waits: tell it why; it stops this generation. */
  async failStart (reason: string): Promise<boolean> {
    if (this.#state !== 'starting' || !this.parent.exists) return false
    this.#to('stopped')
    await this.parent.fail(reason)
    return true
  }

  /** Why `upgrade()` cannot start now, or undefined when it can. */
  refusal (): ReloadError | undefined {
    if (process.platform === 'win32') {
      return new ReloadError('ERR_RELOAD_UNSUPPORTED_PLATFORM', 'reload cannot hand listeners over on Windows: the app keeps running; restart it to deploy')
    }
    switch (this.#state) {
      case 'ready': return undefined
      case 'starting': return new ReloadError('ERR_RELOAD_NOT_READY', 'upgrade() called before this generation was ready; wait for the ready event, or call ready() once every server listens')
      case 'upgrading': return new ReloadError('ERR_RELOAD_IN_PROGRESS', 'a handover is already in progress; wait for it to finish, then upgrade again')
      case 'detached': return new ReloadError('ERR_RELOAD_DETACHED', 'upgrade() called after detach(); this process no longer reloads')
      default: return new ReloadError('ERR_RELOAD_DRAINING', `this generation (pid ${process.pid}) is draining; upgrade the generation that now serves`)
    }
  }

  /**
   * `ready` to `upgrading`: starts the next generation with `listeners`. On its ready this generation is
   * `draining` (the caller drains it); on any failure it is `ready` again (or still retiring, if a
   * shutdown came meanwhile), and the coded error is thrown.
   */
  async upgrade (listeners: Handover[]): Promise<UpgradeResult> {
    const refused = this.refusal()
    if (refused !== undefined) throw refused
    this.#to('upgrading')
    const generation = this.generation + 1
    const started = performance.now()
    const spawn = this.#spawn = new AbortController()
    try {
      this.#child = await spawnGeneration({
        fds: listeners.map((l) => l.fd),
        names: listeners.map((l) => l.name),
        generation,
        readyTimeout: this.#options.readyTimeout(),
        cwd: this.#options.cwd(),
        signal: spawn.signal,
        onSpawn: (pid) => this.#options.log().info({ pid, listeners: listeners.length }, `starting generation ${generation}`)
      })
    } catch (err) {
      if (this.#state === 'upgrading') this.#to('ready')
      throw err
    } finally {
      this.#spawn = undefined
    }
    this.#child.process.unref()
    this.#to('draining')
    return { pid: this.#child.pid, generation, ms: Math.round(performance.now() - started) }
  }

  /** To `draining`, abandoning a handover in progress. False when this generation already retires. */
  retire (): boolean {
    if (this.isRetiring || this.#state === 'detached') return false
    this.#spawn?.abort()
    this.#to('draining')
    return true
  }

  /** `draining` to `stopped`: the drain is over. */
  stopped (): void {
    this.#to('stopped')
  }

  /** Closes the link to the next generation, which then knows this one is gone (as at its exit). */
  letGo (): void {
    this.#child?.link?.destroy()
  }

  /** To `detached`: no handover or drain happens from now on. False when already retiring. */
  detach (): boolean {
    if (this.isRetiring || this.#state === 'detached') return false
    this.#spawn?.abort()
    this.#to('detached')
    return true
  }
}
