import { performance } from 'node:perf_hooks'
import type { ReloadError } from '@reload/core/keeper'
import type { RunOptions } from './args.js'
import { restart, startInto } from './exits.js'
import type { Inside, SlotView, WorkerView } from './inside.js'
import { backoff, BACKOFF_CAP } from './slots.js'
import { Supervisor } from './supervise.js'
import { isStopping, signalPid, type ReplaceReason } from './worker.js'

function mb (bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`
}

/** The liveness timeout in force: off when the workers run under a debugger, which stops the loop as a hang does. */
export function livenessOf (options: RunOptions): number {
  const inspected = [...options.command, process.env.NODE_OPTIONS ?? ''].some((arg) => /--inspect(-brk|-wait)?\b/.test(arg))
  return inspected ? Infinity : options.livenessTimeout
}

/** The keeper's supervisor: a serving worker that stops answering, or passes its memory cap, is replaced. */
export function supervise (k: Inside): Supervisor<WorkerView> {
  return new Supervisor({ livenessTimeout: livenessOf(k.options), maxMemory: k.options.maxMemory }, {
    serving: () => k.slots.flatMap((s) => s.current !== undefined && s.current.state === 'ready' && s.current.replacing === undefined ? [s.current] : []),
    unresponsive: (worker, silent) => replace(k, worker, 'unresponsive',
      `its event loop has not answered for ${(silent / 1000).toFixed(1)} s (liveness timeout ${k.options.livenessTimeout} ms: a busy loop, a deadlock, or a stopped process)`),
    overMemory: (worker, rss) => {
      if (performance.now() < worker.holdUntil) return
      replace(k, worker, 'memory', `its resident memory ${mb(rss)} passed --max-memory ${mb(k.options.maxMemory ?? 0)}`)
    }
  })
}

/**
 * Replaces a worker that still runs, the rolling way: its replacement starts on the same sockets and is
 * ready first, so there are never fewer ready workers than before. Then an unresponsive one is killed
 * (it cannot drain) and one over its memory cap drains.
 */
function replace (k: Inside, worker: WorkerView, reason: ReplaceReason, why: string): void {
  const slot = k.slots[worker.slot - 1] as SlotView
  if (worker.replacing !== undefined || isStopping(worker) || k.isStopping() || slot.current !== worker) return
  const message = `worker ${slot.index} (pid ${worker.pid}) is ${reason === 'unresponsive' ? 'unresponsive' : 'over its memory cap'}: ${why}`
  const at = Date.now()
  k.replacing(worker, { reason, slot: slot.index, pid: worker.pid, message, at })
  k.countRestart(slot, { reason, detail: why, at })
  // A hang is an outage for what the worker holds; a memory recycle is what the operator asked for.
  const level = reason === 'unresponsive' ? 'error' : 'warn'
  k.log[level]({ worker: worker.pid, reason }, `${message}; starting its replacement, then ${reason === 'unresponsive' ? 'killing it' : 'it drains'}`)
  startInto(k, slot, (next) => {
    k.log.info({ worker: next.pid, generation: next.generation }, `worker ${slot.index} serves again; pid ${worker.pid} ${reason === 'unresponsive' ? 'is killed' : 'drains'}`)
    if (!k.alive.has(worker.pid)) return
    if (reason === 'unresponsive') k.kill(worker, 'as unresponsive')
    else k.retire(worker, 'replaced')
  }, (err: ReloadError) => {
    const stillThere = slot.current === worker
    // One over its memory cap keeps serving, and is not looked at again for a while.
    k.replaceFailed(worker, stillThere && reason === 'memory' ? performance.now() + BACKOFF_CAP : undefined)
    k.log.error({ code: err.code }, `worker ${slot.index}'s replacement did not start (${err.message})`)
    if (!stillThere) {
      // It died meanwhile: an empty slot starts again the crash way, with its backoff.
      restart(k, slot, backoff(slot.crashes + 1), undefined, slot.crashes + 1)
    } else if (reason === 'unresponsive') {
      // It serves nobody: killed as a crash, so the slot starts again with the backoff.
      signalPid(worker.pid, 'SIGKILL')
    }
  })
}
