import type { Cut, Ledger } from './ledger.js'
import type { Logger } from '../log.js'
import { delay, later } from '../node/timers.js'

/** What a shutdown needs: what to drain, what to run after, and the one budget all of it fits in. */
export interface ShutdownPlan {
  ledgers: Ledger[]
  hooks: Array<() => unknown>
  /** Keep serving this long first (load balancers notice), within the budget. */
  delay: number
  /** From the start of the shutdown to exit: the delay, the drain and the hooks together. */
  budget: number
  log: Logger
  /** Aborted by a second shutdown signal: cut what is left now, run no hook. */
  force: AbortSignal
  /** Called as the drain starts, after the delay: the moment to close WebSockets and streams. */
  onDrain: () => void
  /** Aborted by the way back: stop waiting, cut nothing, run no hook; the generation serves again. */
  cancel: AbortSignal
  /** Called when the drain is over and the hooks are about to run: past this point nothing can be cancelled. */
  onHooks: () => void
}

/** How a shutdown ended: the requests and connections it cut, and the exit code that says so. */
export interface ShutdownResult { code: number, cut: Cut, forced: boolean, cancelled: boolean }

// The hooks (Fastify's onClose, pools) get the end of the budget: the drain leaves them this much.
function hookShare (left: number): number { return Math.min(1000, left / 10) }

function aborted (signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => resolve(), { once: true })
  })
}

function cutAll (ledgers: Ledger[]): Cut {
  const cut = { requests: 0, connections: 0 }
  for (const ledger of ledgers) {
    const { requests, connections } = ledger.destroy()
    cut.requests += requests
    cut.connections += connections
  }
  return cut
}

/**
 * Drains `ledgers` and runs `hooks`, all within `budget` ms from now: stops accepting, lets what was taken
 * finish, cuts what is left when the time is up (or at once on `force`), then runs the hooks with the time
 * that is left.
 */
export async function shutdown (plan: ShutdownPlan): Promise<ShutdownResult> {
  const { ledgers, log, force } = plan
  const start = Date.now()
  const deadline = start + plan.budget
  const forced = aborted(force).then(() => 'forced' as const)
  const cancelled = aborted(plan.cancel).then(() => 'cancelled' as const)
  if (plan.delay > 0) {
    log.info({ ms: plan.delay }, 'serving on during shutdownDelay')
    await Promise.race([delay(plan.delay), forced])
  }
  const drainEnd = deadline - (plan.hooks.length > 0 ? hookShare(deadline - Date.now()) : 0)
  if (!force.aborted) {
    log.info({ requests: sum(ledgers, 'requests'), connections: sum(ledgers, 'connections') }, 'draining')
    plan.onDrain()
  }
  let timer = later(0, () => {})
  const outcome = force.aborted
    ? 'forced'
    : await Promise.race([
      Promise.all(ledgers.map(async (ledger) => await ledger.drain({ deadline: drainEnd }))).then(() => 'drained' as const),
      new Promise<'late'>((resolve) => { timer = later(drainEnd - Date.now(), () => resolve('late'), { keepAlive: true }) }),
      forced,
      cancelled
    ])
  timer.cancel()
  if (outcome === 'cancelled') return { code: 0, cut: { requests: 0, connections: 0 }, forced: false, cancelled: true }
  let cut = { requests: 0, connections: 0 }
  if (outcome === 'drained') {
    log.info({ ms: Date.now() - start }, 'drained')
  } else {
    cut = cutAll(ledgers)
    const why = outcome === 'forced' ? 'second shutdown signal' : `drainTimeout (${plan.budget} ms) reached`
    log.warn(cut, `${why}: cut ${cut.requests} requests on ${cut.connections} connections`)
  }
  plan.onHooks()
  if (outcome !== 'forced') await runHooks(plan.hooks, deadline - Date.now(), log, forced)
  return { code: cut.requests > 0 || outcome === 'forced' ? 1 : 0, cut, forced: outcome === 'forced', cancelled: false }
}

function sum (ledgers: Ledger[], key: 'requests' | 'connections'): number {
  return ledgers.reduce((n, ledger) => n + ledger[key], 0)
}

async function runHooks (hooks: Array<() => unknown>, ms: number, log: Logger, forced: Promise<unknown>): Promise<void> {
  if (hooks.length === 0) return
  let timer = later(0, () => {})
  const all = Promise.all(hooks.map(async (hook) => {
    try { await hook() } catch (err) { log.error({ err }, `beforeExit hook failed: ${(err as Error).message}`) }
  }))
  const late = await Promise.race([
    all.then(() => false),
    new Promise<boolean>((resolve) => { timer = later(Math.max(0, ms), () => resolve(true), { keepAlive: true }) }),
    forced.then(() => true)
  ])
  timer.cancel()
  if (late) log.warn({ ms: Math.max(0, Math.round(ms)) }, 'beforeExit hooks did not finish within drainTimeout')
}
