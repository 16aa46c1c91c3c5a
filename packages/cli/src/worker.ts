import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { encodeParent, later, type ChildMessage, type ParentMessage } from '@reload/core/keeper'

/** A worker's answer to `STATUS`. */
export type StatusAnswer = Extract<ChildMessage, { type: 'status' }>

/**
 * Where a worker is: `starting` until it says ready, `ready` while it serves, `draining` once it was told
 * to stop (or stops on its own, or was killed), `exited` once the kernel says so.
 */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited'

/** Why the keeper replaced a worker that still ran. */
export type ReplaceReason = 'unresponsive' | 'memory'

/** Why a slot's worker was started again: a roll, or it exited (crash), stopped on its own, or was replaced. */
export type RestartReason = 'roll' | 'crash' | 'stopped' | ReplaceReason

/** A slot's last restart: why, in words (an exit code or signal, a silence, a size), and when (epoch ms). */
export interface Restart { reason: RestartReason, detail: string, at: number }

/** How a worker that was told to stop ended. */
export type DrainEnd = 'drained' | 'cut' | 'killed' | 'exited'

/** Why a worker moves to `draining`: the keeper asked (a roll, a shutdown, a replacement), it chose to, or it was killed. */
export type DrainCause = 'roll' | 'shutdown' | 'replaced' | 'stopped' | 'killed'

/** One worker process of the keeper, from its spawn to its exit. */
export interface Worker {
  slot: number
  generation: number
  pid: number
  process: ChildProcess
  link: Socket | undefined
  /** Only through {@link moveTo}. */
  state: WorkerState
  /** Why it drains, once it does: its exit is then no crash. */
  cause: DrainCause | undefined
  started: number
  /** When it became ready (performance.now()): set by {@link moveTo}. */
  ready: number | undefined
  /** Waiting for answers to `STATUS`, oldest first. */
  answers: Array<(answer: StatusAnswer | undefined) => void>
  /** Resolves once it no longer accepts: it said `ACCEPTING=0`, or exited. */
  closed: Promise<void>
  close: () => void
  /** It said `LIVENESS=1`: it answers `PING`, obeys `DRAIN` and says `ACCEPTING=0` (a current @reload/core). */
  answersPing: boolean
  /** The listeners on which it takes handed connections (`HANDOFF=`), by position; empty when it accepts itself. */
  handoff: number[]
  lastPong: number
  /** Says `PING` on its link (nothing before it is ready: it has no link yet). */
  ping: () => void
  /** Why a replacement is being started for it while it still runs. */
  replacing: ReplaceReason | undefined
  /** Not looked at for memory again before this time (its replacement failed to start). */
  holdUntil: number
  /** What it said of its drain just before it exited. */
  drained: { requests: number, connections: number } | undefined
  /** Why the keeper SIGKILLed it. */
  killed: string | undefined
  /** When it was told to stop, or chose to (performance.now()): set by {@link moveTo}. */
  retired: number | undefined
}

/** A worker just spawned: starting, in `slot`, for `generation`. */
export function newWorker (fields: { slot: number, generation: number, pid: number, process: ChildProcess, started: number }): Worker {
  let close = (): void => {}
  const closed = new Promise<void>((resolve) => { close = resolve })
  const worker: Worker = {
    ...fields,
    ...{ link: undefined, state: 'starting', cause: undefined, ready: undefined, answers: [], closed, close },
    ...{ answersPing: false, handoff: [], lastPong: 0, ping: () => { tell(worker, { type: 'ping' }) }, replacing: undefined, holdUntil: 0 },
    ...{ drained: undefined, killed: undefined, retired: undefined }
  }
  return worker
}

// Every move a worker can make. A worker stopped while starting drains what it took; one that crashes
// exits from wherever it is; nothing comes back from draining or exited.
const moves: Record<WorkerState, readonly WorkerState[]> = {
  starting: ['ready', 'draining', 'exited'],
  ready: ['draining', 'exited'],
  draining: ['exited'],
  exited: []
}

/** Whether `from` → `to` is a move of the table. */
export function canMove (from: WorkerState, to: WorkerState): boolean {
  return moves[from].includes(to)
}

/**
 * Moves `worker` to `to` at time `at`: to `ready`, noting when; to `draining` with its cause and when (the
 * first cause and time stay). Moving to where it already is changes nothing.
 * @throws {Error} for a move the table does not have: a bug of the keeper's, never an input.
 */
export function moveTo (worker: Worker, to: WorkerState, cause?: DrainCause, at = performance.now()): void {
  if (to === 'draining') {
    worker.cause ??= cause
    worker.retired ??= at
  }
  if (worker.state === to) return
  if (!canMove(worker.state, to)) throw new Error(`worker ${worker.pid}: no move from ${worker.state} to ${to}`)
  worker.state = to
  if (to === 'ready') worker.ready = at
}

/** Whether it was told to stop or chose to (or is gone): its exit is no crash. */
export function isStopping (worker: Worker): boolean {
  return worker.cause !== undefined
}

/** How a worker that was told to stop ended, in the log's words, and whether that was a clean drain. */
export function ending (worker: Worker, code: number | null, signal: NodeJS.Signals | null): { text: string, clean: boolean, end: DrainEnd } {
  if (worker.killed !== undefined) return { text: `was killed ${worker.killed}`, clean: false, end: 'killed' }
  const cut = worker.drained?.requests ?? 0
  if (cut > 0) return { text: `cut ${cut} request${cut === 1 ? '' : 's'} at the drain timeout and exited`, clean: false, end: 'cut' }
  if (worker.drained !== undefined) {
    if (code === 0) return { text: 'drained and exited', clean: true, end: 'drained' }
    // After the drain, the app's own SIGTERM listener ran (a framework's shutdown), and exiting with 143
    // (128 + SIGTERM) is how such listeners say "ended by SIGTERM": the drain itself was clean.
    if (code === 143) return { text: "drained; the app's own SIGTERM listener exited with code 143", clean: true, end: 'drained' }
    return { text: `drained and exited with code ${code ?? '?'}`, clean: false, end: 'exited' }
  }
  if (signal !== null || code !== 0) return { text: `exited with ${signal ?? `code ${code ?? '?'}`} before draining`, clean: false, end: 'exited' }
  // An app on an older @reload/core says nothing of its drain: exit code 0 is its word.
  return { text: 'exited with code 0', clean: true, end: 'drained' }
}

/** Says `message` to the worker on its link, if the link is still open. */
export function tell (worker: Worker, message: ParentMessage, done: (err?: Error | null) => void = () => {}): boolean {
  const link = worker.link
  if (link === undefined || link.destroyed) return false
  link.write(`${encodeParent(message)}\n`, done)
  return true
}

/** Asks the worker what it has in flight; undefined when it does not answer within `timeout` ms (or has no link). */
export function askStatus (worker: Worker, timeout = 500): Promise<StatusAnswer | undefined> {
  return new Promise((resolve) => {
    const timer = later(timeout, () => { answer(undefined) })
    const answer = (status: StatusAnswer | undefined): void => {
      timer.cancel()
      const i = worker.answers.indexOf(answer)
      if (i !== -1) worker.answers.splice(i, 1)
      resolve(status)
    }
    worker.answers.push(answer)
    if (!tell(worker, { type: 'status' }, (err) => { if (err != null) answer(undefined) })) answer(undefined)
  })
}

/** Sends `signal` to `pid`; a process already gone is no error. */
export function signalPid (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch {}
}
