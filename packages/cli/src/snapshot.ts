import { performance } from 'node:perf_hooks'
import type { Inside, SlotView, WorkerView } from './inside.js'
import type { KeeperStatus, SlotStatus } from './keeper-status.js'
import { livenessOf } from './replace.js'
import { cpuSecondsOf, rssOf } from './supervise.js'
import { askStatus } from './worker.js'

interface Look { seconds: number, at: number, percent: number | undefined }

/** Each worker's CPU seconds at the last look, and when: the percentage is taken between two looks. */
export class CpuMeter {
  readonly #looks = new WeakMap<WorkerView, Look>()

  /** CPU seconds from /proc, and the share of one core since the previous look (since the start, the first time). */
  look (worker: WorkerView, now: number): { seconds: number, percent: number | undefined } | undefined {
    const seconds = cpuSecondsOf(worker.pid)
    if (seconds === undefined) return undefined
    const last = this.#looks.get(worker) ?? { seconds: 0, at: worker.started, percent: undefined }
    // Looks closer together than this say more about the clock tick (10 ms) than about the worker.
    if (now - last.at < 250) return { seconds, percent: last.percent }
    const percent = Math.round((seconds - last.seconds) / ((now - last.at) / 1000) * 1000) / 10
    this.#looks.set(worker, { seconds, at: now, percent })
    return { seconds, percent }
  }
}

/** Every worker, with what each says it has in flight (asked over its link, briefly), and every slot that waits. */
export async function snapshot (k: Inside, cpu: CpuMeter): Promise<KeeperStatus> {
  const workers = [...k.alive.values()]
  const now = performance.now()
  const answers = await Promise.all(workers.map(async (w) => await askStatus(w)))
  const liveness = livenessOf(k.options)
  const waiting: SlotStatus[] = k.slots.filter((s) => s.current === undefined).map((s) => ({
    slot: s.index,
    state: s.restart !== undefined ? 'backoff' : 'starting',
    nextTryIn: s.nextTry === undefined ? undefined : Math.max(0, Math.round(s.nextTry - now)),
    restarts: s.restarts,
    lastRestart: s.lastRestart
  }))
  const tally = k.tally()
  const last = tally.rolls[0]
  return {
    pid: process.pid,
    uptime: Math.round(now - tally.started),
    generation: k.generation(),
    listening: k.held.map((h) => h.label),
    workers: workers.map((w, i) => {
      const answer = answers[i]
      const slot = k.slots[w.slot - 1] as SlotView
      const used = cpu.look(w, now)
      return {
        slot: w.slot,
        pid: w.pid,
        generation: w.generation,
        state: w.state,
        uptime: Math.round(now - w.started),
        requests: answer?.requests,
        connections: answer?.connections,
        rss: rssOf(w.pid),
        replacing: w.replacing,
        heap: answer?.heap,
        served: answer?.served,
        handed: k.handed(w.pid),
        cpu: used?.seconds,
        cpuPercent: used?.percent,
        restarts: slot.restarts,
        lastRestart: slot.lastRestart
      }
    }).sort((a, b) => a.slot - b.slot || a.generation - b.generation),
    rolling: tally.rolling,
    restarts: tally.restarts,
    replaced: { ...tally.replaced },
    lastReplaced: tally.lastReplaced,
    liveness: Number.isFinite(liveness) ? liveness : null,
    maxMemory: k.options.maxMemory ?? null,
    lastRoll: last === undefined ? undefined : { ok: last.ok, generation: last.generation, message: last.message, at: last.at },
    rolls: [...tally.rolls],
    waiting,
    spare: tally.spare === undefined ? null : { ...tally.spare, rss: rssOf(tally.spare.pid) }
  }
}
