import type { EventEmitter } from 'node:events'
import type { Logger } from '@reload/core/keeper'
import type { RunOptions } from './args.js'
import type { KeeperEvents, Replacement, RollRecord } from './keeper-status.js'
import type { Held } from './listen.js'
import type { Slot } from './slots.js'
import type { SpareStatus } from './standby.js'
import type { DrainCause, ReplaceReason, Restart, Worker } from './worker.js'

/** A worker as the keeper's parts see it: read-only (its state moves through worker.ts's `moveTo` only). */
export type WorkerView = Readonly<Worker>

/** A slot as the keeper's parts see it: read-only, and so is the worker in it. */
export type SlotView = Readonly<Omit<Slot, 'current'>> & { readonly current: WorkerView | undefined }

/** The keeper's own tallies, for its status. */
export interface Tally {
  /** When the keeper started (performance.now()). */
  started: number
  rolling: boolean
  restarts: number
  replaced: Readonly<Record<ReplaceReason, number>>
  lastReplaced: Replacement | undefined
  /** The last rolls, newest first. */
  rolls: readonly RollRecord[]
  /** The spare, if there is one now. */
  spare: SpareStatus | undefined
}

/**
 * What the Keeper lends its parts (the roll, the replacement, a worker's exit and restart, the status): its
 * slots and workers to read, and the only functions that change them (besides worker.ts's `moveTo`). The
 * Keeper stays the one owner of that state; a part never writes a slot's or a worker's field itself.
 */
export interface Inside {
  readonly options: RunOptions
  readonly log: Logger
  readonly events: EventEmitter<KeeperEvents>
  readonly held: readonly Held[]
  readonly slots: readonly SlotView[]
  /** Every worker process alive, serving or draining or starting. */
  readonly alive: ReadonlyMap<number, WorkerView>
  generation: () => number
  isStopping: () => boolean
  tally: () => Tally
  /** How many connections the keeper handed the worker `pid` (with `--workers` above 1). */
  handed: (pid: number) => number | undefined

  /** Starts a worker for `slot` and resolves once it is ready; rejects with the coded reason otherwise. */
  startWorker: (slot: SlotView, generation: number) => Promise<WorkerView>
  /** Tells a worker to drain (SIGTERM, and `DRAIN` on its link), with a kill after its drain timeout. */
  retire: (worker: WorkerView, cause: DrainCause) => void
  /** SIGKILL, for a worker that cannot drain; its exit is no crash, and its log line says `why`. */
  kill: (worker: WorkerView, why: string) => void

  /** A roll's new worker takes `slot`, ending its crash count; returns the worker it replaces. */
  rolled: (slot: SlotView, worker: WorkerView, generation: number) => WorkerView | undefined
  /** `worker` serves in `slot` from now on: a start for it is no longer under way. */
  serve: (slot: SlotView, worker: WorkerView) => void
  /** The slot's worker is gone (it crashed, or stops on its own). */
  vacate: (slot: SlotView) => void
  /** A start outside a roll begins: it is the slot's as long as `slot.starting` is the abort returned. */
  startFor: (slot: SlotView) => AbortController
  /** The slot's start is no longer under way: it failed. */
  started: (slot: SlotView) => void
  /** The slot's worker starts again after `wait` (`go` then); see `restartAfter` in slots.ts. */
  restartAfter: (slot: SlotView, wait: number, go: () => void, cause?: Restart, crashes?: number) => void
  /** One restart more, for the keeper and in the slot's history (with its `cause`, when given); said to the metrics. */
  countRestart: (slot: SlotView, cause?: Restart) => void
  /** `worker` gets a replacement, for `replacement.reason`. */
  replacing: (worker: WorkerView, replacement: Replacement) => void
  /** Its replacement did not start; with `holdUntil`, it is not looked at for memory again before then. */
  replaceFailed: (worker: WorkerView, holdUntil?: number) => void
  /** A finished roll, for `reload status` and the metrics. */
  recordRoll: (roll: RollRecord) => void
}
