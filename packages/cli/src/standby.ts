import { holdWorker, later, type HeldChild } from '@reload/core/keeper'
import type { SpawnContext } from './spawn.js'
import { spawnOptions } from './spawn.js'

// A spare that dies before it is used this many times in a row is not started again: something kills it
// (an OOM killer, an operator), and starting more would only add to it.
const DEATHS = 3
// How long a dismissed spare has to exit on its own before it is killed.
const DISMISS_WAIT = 5000
// How long a spare whose hold socket closed without a word has to exit before it counts as running on.
const CLOSED_WAIT = 1000

/** The keeper's spare as `reload status` shows it. */
export interface SpareStatus { pid: number, generation: number, holding: boolean }

interface Entry { child: HeldChild, generation: number, holding: boolean, gone: Promise<void> }

/**
 * The keeper's spare: one worker process started ahead of need, Node booted and the preload loaded, held
 * before the app's first line (@reload/core's register.ts). A worker that must start again (a crash, a hang,
 * a leak) starts from it, and serves after the app's own start alone. A roll never does: new settings and a
 * moved release folder are read by a process started for the roll. Only for a command whose workers said
 * `HOLDS=1`: another program, or an older @reload/core, would serve at once.
 */
export class Standby {
  readonly #context: SpawnContext
  readonly #enabled: boolean
  /** Generations one of whose workers said it can be held. */
  readonly #holds = new Set<number>()
  #entry: Entry | undefined
  #deaths = 0
  readonly #leaving = new Set<Promise<void>>()

  constructor (context: SpawnContext, enabled: boolean) {
    this.#context = context
    this.#enabled = enabled
  }

  /** A worker of `generation` said `HOLDS=1`. */
  holds (generation: number): void { this.#holds.add(generation) }

  get status (): SpareStatus | undefined {
    const e = this.#entry
    return e === undefined ? undefined : { pid: e.child.pid, generation: e.generation, holding: e.holding }
  }

  /** Starts a spare for `generation` when there is none (dismissing one of another generation). */
  want (generation: number): void {
    if (this.#entry?.generation === generation) return
    // One of another generation is no use: restarts start workers of this one (after a failed roll too).
    this.dismiss()
    if (!this.#enabled || this.#context.stop.aborted || !this.#holds.has(generation) || this.#deaths >= DEATHS) return
    const child = holdWorker(spawnOptions(this.#context, generation, 'the spare'))
    if (child === undefined) return
    const gone = new Promise<void>((resolve) => { child.process.once('exit', () => { resolve() }) })
    const entry: Entry = { child, generation, holding: false, gone }
    this.#entry = entry
    const runsOn = (): boolean => this.#entry === entry && child.process.exitCode === null && child.process.signalCode === null
    // It runs without waiting (what it took, it drains): no spare of this command is of use.
    const notHolding = (): void => {
      if (!runsOn()) return
      this.#context.log.warn({ spare: child.pid }, `the spare (pid ${child.pid}) did not wait for its turn: stopping it, and starting no more`)
      this.#deaths = DEATHS
      this.#entry = undefined
      child.process.kill('SIGTERM')
    }
    child.holding.then((said) => {
      if (this.#entry !== entry) return
      if (said === 'held') {
        entry.holding = true
        this.#context.log.info({ spare: child.pid, generation }, `spare ready (pid ${child.pid}): a worker that must start again starts from it`)
      } else if (said === 'other') {
        notHolding()
      } else {
        // Closed without a word: it died while it booted (its exit, below, says so), or it closed the fd and runs on.
        later(CLOSED_WAIT, notHolding)
      }
    }, () => {})
    child.process.once('exit', (code, signal) => {
      if (this.#entry !== entry) return
      this.#entry = undefined
      this.#deaths++
      this.#context.log.warn({ spare: child.pid }, `the spare (pid ${child.pid}) exited with ${signal ?? `code ${code ?? '?'}`} before it was used` +
        (this.#deaths >= DEATHS ? `; ${DEATHS} did in a row: starting no more` : ''))
      if (this.#deaths < DEATHS) later(1000, () => { this.want(generation) })
    })
  }

  /** The spare, if it holds for `generation`: taken, the keeper starts a worker from it. */
  take (generation: number): HeldChild | undefined {
    const e = this.#entry
    if (e === undefined || e.generation !== generation || !e.holding) return undefined
    if (e.child.process.exitCode !== null || e.child.process.signalCode !== null) return undefined
    this.#entry = undefined
    this.#deaths = 0
    return e.child
  }

  /** Lets the spare exit (it was for another generation, or the keeper stops). */
  dismiss (): void {
    const e = this.#entry
    if (e === undefined) return
    this.#entry = undefined
    e.child.dismiss()
    const timer = later(DISMISS_WAIT, () => { e.child.process.kill('SIGKILL') })
    const leaving = e.gone.then(() => { timer.cancel() })
    this.#leaving.add(leaving)
    leaving.then(() => { this.#leaving.delete(leaving) }, () => {})
  }

  /** Resolves once no spare is left: dismissed ones have exited. */
  async gone (): Promise<void> {
    this.dismiss()
    await Promise.all([...this.#leaving])
  }
}
