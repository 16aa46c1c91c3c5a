import type { DrainEnd, ReplaceReason, Restart, RestartReason, WorkerState } from './worker.js'

// What the keeper tells about itself: `reload status`, `reload reload --wait`, and the metrics' events.

/** A finished roll, as `reload status` lists the last ones. */
export interface RollRecord { ok: boolean, generation: number, ms: number, message: string, code: string | undefined, at: number }

/** What the keeper tells its observers (the metrics), as it happens. */
export interface KeeperEvents {
  roll: [RollRecord]
  /** A start outside a roll (rolls are `roll` events). */
  restart: [{ slot: number, reason: Exclude<RestartReason, 'roll'> }]
  drained: [{ slot: number, pid: number, ms: number, end: DrainEnd, cut: number }]
}

/** What `reload reload --wait` and the log say of a finished roll. */
export interface RollResult { generation: number, pids: number[], ms: number }

/** One worker as `reload status` shows it. */
export interface WorkerStatus {
  slot: number
  pid: number
  generation: number
  state: WorkerState
  uptime: number
  requests: number | undefined
  connections: number | undefined
  /** Resident memory in bytes. */
  rss: number | undefined
  /** Why it is being replaced, while it is. */
  replacing: ReplaceReason | undefined
  /** V8 heap in use, in bytes, as the worker says. */
  heap: number | undefined
  /** Requests it has taken since it started. */
  served: number | undefined
  /** Connections the keeper has handed it (with `--workers` above 1): how the workers share the clients. */
  handed: number | undefined
  /** CPU time it has used, in seconds, and its share of one core since the last look (or since it started). */
  cpu: number | undefined
  cpuPercent: number | undefined
  /** Its slot's restarts, and why the last one happened. */
  restarts: number
  lastRestart: Restart | undefined
}

/** A slot with no serving worker: its worker starts, or waits out its backoff before the next try. */
export interface SlotStatus { slot: number, state: 'starting' | 'backoff', nextTryIn: number | undefined, restarts: number, lastRestart: Restart | undefined }

/** A worker the keeper replaced while it still ran, and why. */
export interface Replacement { reason: ReplaceReason, slot: number, pid: number, message: string, at: number }

export interface KeeperStatus {
  pid: number
  uptime: number
  generation: number
  listening: string[]
  workers: WorkerStatus[]
  rolling: boolean
  restarts: number
  /** Workers replaced while they still ran, by reason. */
  replaced: Record<ReplaceReason, number>
  lastReplaced: Replacement | undefined
  /** Liveness timeout in ms (null: off), memory cap in bytes (null: off). */
  liveness: number | null
  maxMemory: number | null
  lastRoll: { ok: boolean, generation: number, message: string, at: number } | undefined
  /** The last rolls, newest first. */
  rolls: RollRecord[]
  /** Slots that have no serving worker now. */
  waiting: SlotStatus[]
  /** The worker process booted ahead of need, for restarts (null: none now); `holding` once it waits. */
  spare: { pid: number, generation: number, holding: boolean, rss: number | undefined } | null
}
