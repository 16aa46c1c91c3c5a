import { once } from 'node:events'
import { spawnGeneration, type Child } from '../protocol/child.js'
import { ReloadError } from '../errors.js'
import type { Lifecycle } from './lifecycle.js'
import { decodeChild, LineReader } from '../protocol/link.js'
import type { Logger } from '../log.js'
import type { ParentLink } from '../protocol/parent.js'
import type { Binding } from '../listen/listeners.js'
import { WayBack } from './wayback.js'

/** What `upgrade()` resolves with: the new generation, and how long it took from start to ready. */
export interface UpgradeResult { pid: number, generation: number, ms: number }

/** How the next generation ended while this one drained. */
export interface ChildDeath { pid: number, code: number | null, signal: NodeJS.Signals | null }

// A new generation that is stopped drains what it took, within its own drainTimeout; past that (and this
// margin) it is killed. The drainTimeout of the old generation stands in for the new one's.
const KILL_MARGIN = 1000

export interface HandoverOptions {
  generation: number
  readyTimeout: () => number
  drainTimeout: () => number
  cwd: () => string
  log: () => Logger
  /** The next generation died (it did not stop on purpose) while this one drains. */
  childDied: (death: ChildDeath) => void
}

/**
 * The start of the next generation: spawned with this one's listeners, watched until this one exits.
 * Every state change it causes is the {@link Lifecycle}'s to make.
 */
export class Handover {
  readonly #life: Lifecycle
  readonly #parent: ParentLink
  readonly #options: HandoverOptions
  #child: Child | undefined

  constructor (life: Lifecycle, parent: ParentLink, options: HandoverOptions) {
    this.#life = life
    this.#parent = parent
    this.#options = options
  }

  /**
   * Starts the next generation with the listeners of `bindings`; the caller has checked
   * {@link Lifecycle.refusal}. On its ready this generation is `draining` (the caller drains it), with a
   * way back; on any failure it is `ready` again (or still retiring, if a shutdown came meanwhile), and a
   * coded {@link ReloadError} is thrown.
   */
  async start (bindings: Binding[]): Promise<UpgradeResult> {
    const signal = this.#life.beginHandover()
    const generation = this.#options.generation + 1
    const parent = this.#parent.pid
    if (parent !== undefined) {
      // At most two generations live: the next one waits for this one's parent to finish its drain.
      this.#options.log().info({ parent }, `generation ${generation} waits until pid ${parent} has drained`)
      await Promise.race([this.#parent.waitForExit(), once(signal, 'abort')])
      if (signal.aborted) {
        this.#life.handoverFailed()
        throw new ReloadError('ERR_RELOAD_ABORTED', `handover abandoned before it started: this generation is ${String(signal.reason)}`)
      }
    }
    const started = performance.now()
    let child: Child
    try {
      child = await spawnGeneration({
        fds: bindings.map((b) => b.fd),
        names: bindings.map((b) => b.name),
        generation,
        readyTimeout: this.#options.readyTimeout(),
        killAfter: this.#options.drainTimeout() + KILL_MARGIN,
        cwd: this.#options.cwd(),
        signal,
        onSpawn: (pid, attempt) => this.#options.log().info({ child: pid, listeners: bindings.length },
          attempt === 1 ? `starting generation ${generation}` : `starting generation ${generation} again: a SIGHUP to the whole process group killed the last start before it ran`)
      })
    } catch (err) {
      this.#life.handoverFailed()
      throw err instanceof ReloadError ? err : new ReloadError('ERR_RELOAD_SPAWN_FAILED', String(err), { cause: err })
    }
    this.#child = child
    this.#watch(child)
    this.#life.handedOver(this.#holdForWayBack(bindings))
    return { pid: child.pid, generation, ms: Math.round(performance.now() - started) }
  }

  // A crash, a SIGKILL or an OOM kill is a death; a generation that said STOPPING=1 (a shutdown signal),
  // or exited 0, stopped on purpose.
  #watch (child: Child): void {
    child.process.unref()
    let stopping = false
    const lines = new LineReader((line) => { if (decodeChild(line)?.type === 'stopping') stopping = true })
    child.link?.on('data', (chunk: string) => { lines.push(chunk) })
    child.process.once('exit', (code, signal) => {
      const current = this.#child === child
      if (current) this.#child = undefined
      if (stopping || code === 0 || this.#life.state !== 'draining' || !current) return
      this.#options.childDied({ pid: child.pid, code, signal })
    })
  }

  // Before this generation closes its listening sockets, a holder takes copies: if the next generation
  // dies during the drain, they come back with every queued connection.
  #holdForWayBack (bindings: Binding[]): WayBack | undefined {
    if (bindings.length === 0) return undefined
    try {
      return WayBack.hold(bindings)
    } catch (err) {
      this.#options.log().warn({ err }, `no way back for this handover: could not start the socket holder (${(err as Error).message})`)
      return undefined
    }
  }

  /** Closes the link to the next generation, which then knows this one is gone (as at its exit). */
  letGo (): void {
    this.#child?.link?.destroy()
  }
}
