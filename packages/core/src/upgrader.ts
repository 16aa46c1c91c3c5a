import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { spawnGeneration, type Child } from './child.js'
import { ReloadError } from './errors.js'
import { debug, type Logger } from './log.js'
import type { ParentLink } from './parent.js'
import { decodeChild, LineReader } from './link.js'

/**
 * Where a generation is in its life: `starting` until ready (and again once every server is detached),
 * `ready` while serving, `upgrading` while a new generation starts, `draining` once it stops accepting,
 * `stopped` when the drain is over.
 */
export type ReloadState = 'starting' | 'ready' | 'upgrading' | 'draining' | 'stopped'

/** What `upgrade()` resolves with: the new generation, and how long it took from start to ready. */
export interface UpgradeResult { pid: number, generation: number, ms: number }

/** A listener handed to the next generation: its fd and the name that carries its address. */
export interface Handover { fd: number, name: string }

// Every state change goes through #to(), against this table: the whole lifecycle on one screen.
const transitions: Record<ReloadState, readonly ReloadState[]> = {
  starting: ['ready', 'draining'],
  ready: ['upgrading', 'draining', 'starting'],
  upgrading: ['ready', 'draining', 'starting'],
  // Back to ready: the way back, when the next generation died while this one drained.
  draining: ['stopped', 'ready'],
  stopped: []
}

// A new generation that is stopped drains what it took, within its own drainTimeout; past that (and this
// margin) it is killed. The drainTimeout of the old generation stands in for the new one's.
const KILL_MARGIN = 1000

/** How the next generation ended while this one drained. */
export interface ChildDeath { pid: number, code: number | null, signal: NodeJS.Signals | null }

export interface UpgraderOptions {
  /** The next generation died (it did not stop on purpose) while this one drains. */
  childDied: (death: ChildDeath) => void
  generation: number
  readyTimeout: () => number
  drainTimeout: () => number
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
  get wasReady (): boolean { return this.#wasReady }
  #wasReady = false

  #to (next: ReloadState): void {
    if (!transitions[this.#state].includes(next)) throw new Error(`reload: no transition from ${this.#state} to ${next}`)
    debug('state %s -> %s', this.#state, next)
    this.#state = next
  }

  /** `starting` to `ready`, telling the parent. False when this generation is past starting. */
  async ready (): Promise<boolean> {
    if (this.#state !== 'starting') return false
    this.#to('ready')
    this.#wasReady = true
    await this.parent.ready()
    return true
  }

  /**
   * A start-up failure while a parent waits (a listen error, a pid file it cannot write): tell the parent
   * why, so it goes on serving, and move to `draining`, so this generation never reports ready and
   * finishes what it took. False when there is no parent waiting.
   */
  failStart (reason: string): boolean {
    if (this.#state !== 'starting' || !this.parent.exists) return false
    this.#to('draining')
    this.parent.fail(reason).catch((err: unknown) => debug('telling parent: %s', err))
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
    const spawn = this.#spawn = new AbortController()
    const parent = this.parent.pid
    if (parent !== undefined) {
      // At most two generations live: the next one waits for this one's parent to finish its drain.
      this.#options.log().info({ parent }, `generation ${generation} waits until pid ${parent} has drained`)
      await Promise.race([this.parent.waitForExit(), once(spawn.signal, 'abort')])
      if (spawn.signal.aborted) {
        if (this.#state === 'upgrading') this.#to('ready')
        this.#spawn = undefined
        throw new ReloadError('ERR_RELOAD_ABORTED', `handover abandoned before it started: this generation is ${String(spawn.signal.reason)}`)
      }
    }
    const started = performance.now()
    try {
      this.#child = await spawnGeneration({
        fds: listeners.map((l) => l.fd),
        names: listeners.map((l) => l.name),
        generation,
        readyTimeout: this.#options.readyTimeout(),
        killAfter: this.#options.drainTimeout() + KILL_MARGIN,
        cwd: this.#options.cwd(),
        signal: spawn.signal,
        onSpawn: (pid, attempt) => this.#options.log().info({ child: pid, listeners: listeners.length },
          attempt === 1 ? `starting generation ${generation}` : `starting generation ${generation} again: a SIGHUP to the whole process group killed the last start before it ran`)
      })
    } catch (err) {
      if (this.#state === 'upgrading') this.#to('ready')
      throw err
    } finally {
      this.#spawn = undefined
    }
    this.#watch(this.#child)
    this.#to('draining')
    return { pid: this.#child.pid, generation, ms: Math.round(performance.now() - started) }
  }

  // A crash, a SIGKILL or an OOM kill is a death; a generation that said STOPPING=1 (a shutdown signal),
  // or exited 0, stopped on purpose.
  #watch (child: Child): void {
    child.process.unref()
    let stopping = false
    const lines = new LineReader((line) => { if (decodeChild(line)?.type === 'stopping') stopping = true })
    child.link?.on('data', (chunk: string) => { lines.push(chunk) })
    child.process.once('exit', (code, signal) => {
      if (stopping || code === 0 || this.#state !== 'draining' || this.#child !== child) return
      this.#options.childDied({ pid: child.pid, code, signal })
    })
  }

  /** To `draining`, abandoning a handover in progress. False when this generation already retires. */
  retire (): boolean {
    if (this.isRetiring) return false
    this.#spawn?.abort('shutting down')
    this.#to('draining')
    return true
  }

  /** `draining` back to `ready`: the next generation died and this one serves again. */
  resume (): void {
    this.#child = undefined
    this.#to('ready')
  }

  /** `draining` to `stopped`: the drain is over. */
  stopped (): void {
    this.#to('stopped')
  }

  /** Closes the link to the next generation, which then knows this one is gone (as at its exit). */
  letGo (): void {
    this.#child?.link?.destroy()
  }

  /** Back to `starting` once no server is left, abandoning a handover in progress. False when retiring. */
  reset (): boolean {
    if (this.isRetiring) return false
    this.#spawn?.abort('left with no server to hand over (detach)')
    if (this.#state !== 'starting') this.#to('starting')
    return true
  }
}
