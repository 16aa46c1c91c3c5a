import { ReloadError } from '@reload/core/keeper'
import type { Command } from '../args.js'
import { ask } from '../control/client.js'
import { keeperOf } from './target.js'
import type { KeeperStatus, WorkerStatus } from '../keeper-status.js'
import type { Restart } from '../worker.js'

function seconds (ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`
}

function mb (bytes: number): string { return `${Math.round(bytes / 1024 / 1024)} MB` }

function ago (at: number): string { return `${seconds(Math.max(0, Date.now() - at))} ago` }

function restarts (n: number, last: Restart | undefined): string {
  if (n === 0) return ''
  return `, ${n} restart${n === 1 ? '' : 's'} (last: ${last === undefined ? '?' : `${last.reason}, ${last.detail}, ${ago(last.at)}`})`
}

function worker (w: WorkerStatus): string {
  const replacing = w.replacing === undefined ? '' : ` (being replaced: ${w.replacing === 'memory' ? 'over its memory cap' : 'unresponsive'})`
  const load = w.requests === undefined ? '' : `, ${w.requests} requests in flight, ${w.connections ?? 0} connections`
  const memory = w.rss === undefined ? '' : `, ${mb(w.rss)} resident${w.heap === undefined ? '' : ` (heap ${mb(w.heap)})`}`
  const cpu = w.cpu === undefined ? '' : `, CPU ${w.cpuPercent === undefined ? '' : `${w.cpuPercent}% `}(${w.cpu.toFixed(1)} s)`
  const served = `${w.served === undefined ? '' : `, ${w.served} served`}${w.handed === undefined ? '' : `, ${w.handed} connections handed`}`
  return `  worker ${w.slot}: pid ${w.pid}, generation ${w.generation}, ${w.state}${replacing}, up ${seconds(w.uptime)}${load}${memory}${cpu}${served}${restarts(w.restarts, w.lastRestart)}`
}

/** `reload status` for people: one line for the keeper, one per worker and per waiting slot, then the history. */
export function render (s: KeeperStatus): string[] {
  const lines = [`keeper pid ${s.pid}, up ${seconds(s.uptime)}, generation ${s.generation}${s.rolling ? ' (rolling)' : ''}, ${s.restarts} restarts, listening on ${s.listening.join(', ')}`]
  for (const w of s.workers) lines.push(worker(w))
  for (const slot of s.waiting) {
    const next = slot.state === 'backoff' && slot.nextTryIn !== undefined ? `, next try in ${(slot.nextTryIn / 1000).toFixed(1)} s` : ''
    lines.push(`  worker ${slot.slot}: ${slot.state === 'backoff' ? 'backing off' : 'starting'}${next}${restarts(slot.restarts, slot.lastRestart)}`)
  }
  // An older keeper's status has no `spare`.
  if (s.spare != null) {
    lines.push(`  spare: pid ${s.spare.pid}, generation ${s.spare.generation}, ${s.spare.holding ? 'waiting to replace a worker' : 'booting'}${s.spare.rss === undefined ? '' : `, ${mb(s.spare.rss)}`}`)
  }
  const watching = `liveness ${s.liveness === null ? 'off' : `${s.liveness} ms`}, memory cap ${s.maxMemory === null ? 'off' : mb(s.maxMemory)}`
  lines.push(`  supervision: ${watching}; replaced ${s.replaced.unresponsive} unresponsive, ${s.replaced.memory} over memory`)
  if (s.lastReplaced !== undefined) lines.push(`  last replaced: ${s.lastReplaced.message}`)
  const [last, ...earlier] = s.rolls
  if (last !== undefined) lines.push(`  last reload: ${last.ok ? 'done' : 'FAILED'} in ${last.ms} ms, ${ago(last.at)}: ${last.message}`)
  for (const roll of earlier) {
    lines.push(`  earlier reload: ${roll.ok ? 'done' : `FAILED (${roll.code ?? 'error'})`}, generation ${roll.generation}, ${roll.ms} ms, ${ago(roll.at)}`)
  }
  return lines
}

async function once (path: string): Promise<KeeperStatus> {
  const reply = await ask(path, { command: 'status' }, { timeout: 5000 })
  return reply.status as KeeperStatus
}

/**
 * `reload status`: the keeper `target` names asked once, as JSON for programs, or with `watch` every
 * `interval` ms until interrupted: redrawn in place on a terminal, as plain blocks (a time, then the lines)
 * into a pipe.
 */
export async function status ({ target, json, watch, interval }: Extract<Command, { name: 'status' }>): Promise<number> {
  const path = await keeperOf(target)
  if (json) {
    process.stdout.write(`${JSON.stringify(await once(path), null, 2)}\n`)
    return 0
  }
  if (!watch) {
    process.stdout.write(`${render(await once(path)).join('\n')}\n`)
    return 0
  }
  const tty = process.stdout.isTTY
  const stop = { asked: false }
  const onSignal = (): void => { stop.asked = true }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    while (!stop.asked) {
      let s: KeeperStatus
      try {
        s = await once(path)
      } catch (err) {
        if (err instanceof ReloadError) process.stderr.write(`reload: ${err.message} (${err.code})\n`)
        return 1
      }
      const lines = render(s)
      // Home, draw, then clear what an earlier, longer screen left below.
      if (tty) process.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`)
      else process.stdout.write(`${new Date().toISOString()}\n${lines.join('\n')}\n\n`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, interval)
        process.once('SIGINT', () => { clearTimeout(timer); resolve() })
      })
    }
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
