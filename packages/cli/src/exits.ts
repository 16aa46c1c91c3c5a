import { performance } from 'node:perf_hooks'
import type { ReloadError } from '@reload/core/keeper'
import type { Inside, SlotView, WorkerView } from './inside.js'
import { afterExit, backoff } from './slots.js'
import { ending, isStopping, moveTo, type Restart } from './worker.js'

/**
 * A start outside a roll (a restart, a replacement): the worker takes `slot` once ready (then `serving`),
 * unless a roll or the shutdown took the slot over meanwhile (then it drains). `failed` when it did not
 * start and the slot is still its.
 */
export function startInto (k: Inside, slot: SlotView, serving: (worker: WorkerView) => void, failed: (err: ReloadError) => void): void {
  const abort = k.startFor(slot)
  const superseded = (): boolean => slot.starting !== abort || k.isStopping()
  k.startWorker(slot, k.generation()).then((worker) => {
    if (superseded()) {
      k.retire(worker, k.isStopping() ? 'shutdown' : 'replaced')
      return
    }
    k.serve(slot, worker)
    serving(worker)
  }, (err: ReloadError) => {
    if (superseded()) return
    k.started(slot)
    failed(err)
  })
}

/**
 * Starts the slot's worker again after `wait`; `cause` is why, when this is not another try of the same
 * restart, and `crashes` the slot's count of exits in a row, when it changes. A start that fails tries
 * again with the backoff.
 */
export function restart (k: Inside, slot: SlotView, wait: number, cause?: Restart, crashes?: number): void {
  k.restartAfter(slot, wait, () => {
    k.countRestart(slot)
    const generation = k.generation()
    startInto(k, slot, (worker) => {
      k.log.info({ worker: worker.pid, generation }, `worker ${slot.index} serves again`)
    }, (err) => {
      const count = slot.crashes + 1
      const next = backoff(count)
      k.log.error({ code: err.code, crashes: count, wait: next },
        `worker ${slot.index} did not start (${err.message}); ${count >= 3 ? 'crash loop: ' : ''}next start in ${next} ms`)
      restart(k, slot, next, undefined, count)
    })
  }, cause, crashes)
}

/** A serving worker exited unasked: its slot starts again, at once or after the backoff when it keeps exiting. */
export function crashed (k: Inside, slot: SlotView, worker: WorkerView, code: number | null, signal: NodeJS.Signals | null): void {
  if (slot.current !== worker || k.isStopping()) return
  k.vacate(slot)
  // Its replacement is already starting: it takes the slot once ready.
  if (worker.replacing !== undefined) {
    k.log.warn({ worker: worker.pid }, `worker ${slot.index} (pid ${worker.pid}) exited with ${signal ?? `code ${code ?? '?'}`} while its replacement starts`)
    return
  }
  const lived = performance.now() - (worker.ready ?? worker.started)
  const { crashes, wait } = afterExit(slot.crashes, lived)
  const how = signal ?? `code ${code ?? '?'}`
  const after = `${(lived / 1000).toFixed(1)} s`
  if (crashes >= 3) {
    k.log.error({ worker: worker.pid, crashes, wait },
      `worker ${slot.index} is crash-looping: ${crashes} exits in a row (pid ${worker.pid}: ${how} after ${after}); ` +
      `next start in ${wait} ms. The listeners stay open and connections wait in the backlog; fix the app and reload`)
  } else {
    k.log.warn({ worker: worker.pid, wait }, `worker ${slot.index} (pid ${worker.pid}) exited with ${how} after ${after}; starting it again${wait > 0 ? ` in ${wait} ms` : ''}`)
  }
  restart(k, slot, wait, { reason: 'crash', detail: `exited with ${how} after ${after}`, at: Date.now() }, crashes)
}

/**
 * A worker that drains though the keeper did not ask (someone sent it SIGTERM, or the app called drain())
 * leaves its slot: a replacement starts now, while it finishes what it took.
 */
export function stoppedOnItsOwn (k: Inside, slot: SlotView, worker: WorkerView): void {
  if (isStopping(worker) || k.isStopping()) return
  moveTo(worker, 'draining', 'stopped')
  k.log.warn({ worker: worker.pid }, `worker ${slot.index} (pid ${worker.pid}) is stopping on its own (a SIGTERM not from the keeper?): starting a replacement`)
  if (slot.current === worker) {
    k.vacate(slot)
    restart(k, slot, 0, { reason: 'stopped', detail: 'it stopped on its own (a SIGTERM not from the keeper?)', at: Date.now() })
  }
}

/**
 * A worker that was told to stop (or chose to) has exited: its drain's end, for the metrics and the log.
 * Returns whether it drained cleanly.
 */
export function drainEnded (k: Inside, worker: WorkerView, code: number | null, signal: NodeJS.Signals | null): boolean {
  const end = ending(worker, code, signal)
  const ms = worker.retired === undefined ? 0 : Math.round(performance.now() - worker.retired)
  k.events.emit('drained', { slot: worker.slot, pid: worker.pid, ms, end: end.end, cut: worker.drained?.requests ?? 0 })
  const text = `worker ${worker.slot} (pid ${worker.pid}, generation ${worker.generation}) ${end.text}`
  if (end.clean) k.log.info({ worker: worker.pid, code: signal ?? code }, text)
  else k.log.warn({ worker: worker.pid, code: signal ?? code }, text)
  return end.clean
}
