import type { Command } from '../args.js'
import { ask } from '../control/client.js'
import { keeperOf } from './target.js'

// How long `reload reload --wait` gives the keeper to acknowledge: it answers at once unless stopped.
const ACCEPT_WITHIN = 10_000

/**
 * `reload reload`: asks the keeper `target` names to roll its workers over; with `wait`, waits for the
 * roll's result (exit code 1 with the reason when it failed).
 */
export async function reload ({ target, wait, timeout }: Extract<Command, { name: 'reload' }>): Promise<number> {
  const path = await keeperOf(target)
  const reply = await ask(path, { command: 'reload', wait }, wait ? { timeout, accept: Math.min(ACCEPT_WITHIN, timeout) } : { timeout })
  if (reply.ok !== true) {
    process.stderr.write(`reload: ${String(reply.message)} (${String(reply.code)})\n`)
    return 1
  }
  if (!wait) {
    process.stdout.write('reload: started (`reload status` shows the workers; `reload reload --wait` waits for the result)\n')
    return 0
  }
  const result = reply.result as { generation: number, pids: number[], ms: number }
  process.stdout.write(`reload: generation ${result.generation} serves (pids ${result.pids.join(', ')}) after ${result.ms} ms\n`)
  return 0
}
