import { performance } from 'node:perf_hooks'
import { later, type ReloadError } from '@reload/core/keeper'
import { CliError } from './errors.js'
import type { Inside, WorkerView } from './inside.js'
import type { RollResult } from './keeper-status.js'
import { notify } from './notify.js'

// How long a roll waits for a drained worker to say it stopped accepting. A current worker says it in the
// same turn as the drain starts: one that has not by then is killed before the roll is done. An app on an
// older @reload/core may never say it, and is let be.
const CLOSE_WAIT = 2000

function abandoned (cause?: ReloadError): CliError {
  return new CliError('ERR_RELOAD_ABORTED', 'roll abandoned: the keeper is shutting down', cause === undefined ? undefined : { cause })
}

/** The first workers, all at once: resolves once all are ready; rejects, having stopped those that started, when one fails. */
export async function startAll (k: Inside): Promise<void> {
  try {
    await Promise.all(k.slots.map(async (slot) => { k.serve(slot, await k.startWorker(slot, k.generation())) }))
  } catch (err) {
    for (const slot of k.slots) if (slot.current !== undefined) k.retire(slot.current, 'shutdown')
    throw err
  }
}

/**
 * One roll over to `generation`: for each slot in turn, a new worker starts on the same sockets and is
 * ready before the old one drains, and the old one no longer accepts before the next slot rolls. A worker
 * that does not start ends the roll: it and the ones after it keep serving the previous code.
 */
export async function rollOnce (k: Inside, generation: number): Promise<RollResult> {
  const started = performance.now()
  const pids: number[] = []
  const count = k.slots.length
  notify(`RELOADING=1\nSTATUS=rolling over to generation ${generation}`).catch(() => {})
  k.log.info({ generation, count }, `rolling ${count === 1 ? 'the worker' : `${count} workers`} over to generation ${generation}`)
  for (const slot of k.slots) {
    if (k.isStopping()) throw abandoned()
    let next: WorkerView
    try {
      next = await k.startWorker(slot, generation)
    } catch (err) {
      const cause = err as ReloadError
      if (k.isStopping()) throw abandoned(cause)
      const error = new CliError('ERR_RELOAD_ROLL_FAILED',
        `reload failed at worker ${slot.index} of ${count} (${cause.code ?? 'error'}): ${cause.message}. ` +
        `Worker ${slot.index}${slot.index < count ? ' and the ones after it' : ''} keep${slot.index < count ? '' : 's'} serving the previous code; fix it and reload again`,
        { cause })
      k.log.error({ code: error.code, generation }, error.message)
      k.recordRoll({ ok: false, generation, ms: Math.round(performance.now() - started), message: error.message, code: cause.code, at: Date.now() })
      if (!k.isStopping()) notify(`READY=1\nSTATUS=reload to generation ${generation} failed; the previous code serves`).catch(() => {})
      throw error
    }
    const old = k.rolled(slot, next, generation)
    pids.push(next.pid)
    k.log.info({ worker: next.pid, generation }, `worker ${slot.index} ready${old === undefined ? '' : `; pid ${old.pid} drains`}`)
    if (old !== undefined) {
      k.retire(old, 'roll')
      // Once the roll is said to be done, no new connection may reach old code.
      const closed = await Promise.race([old.closed.then(() => true), new Promise<boolean>((resolve) => { later(CLOSE_WAIT, () => resolve(false)) })])
      if (!closed && old.answersPing && k.alive.has(old.pid)) {
        k.kill(old, `because it still accepted connections ${CLOSE_WAIT} ms after it was told to drain`)
        await old.closed
      }
    }
  }
  const result = { generation, pids, ms: Math.round(performance.now() - started) }
  k.log.info({ generation, ms: result.ms, workers: result.pids.join(',') }, `generation ${generation} serves`)
  k.recordRoll({ ok: true, generation, ms: result.ms, message: `generation ${generation} serves (${result.pids.join(', ')})`, code: undefined, at: Date.now() })
  notify(`READY=1\nSTATUS=generation ${generation} serves (pids ${result.pids.join(', ')})`).catch(() => {})
  return result
}
