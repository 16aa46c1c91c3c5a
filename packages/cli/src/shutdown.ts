import { later } from '@reload/core/keeper'
import type { Inside } from './inside.js'
import { signalPid, tell } from './worker.js'

/** What the shutdown needs of the Keeper besides {@link Inside}. */
export interface Stopping {
  /** A second signal came: no delay, and the exit code is 1. */
  forced: () => boolean
  /** `end` ends the shutdown delay early, when a second signal comes. */
  onForce: (end: () => void) => void
  /** Stops watching the workers' liveness and memory. */
  unwatch: () => void
  /** Resolves once every worker is gone, and what was left of their sessions too. */
  allGone: () => Promise<void>
  /** Workers that ended the shutdown otherwise than drained: cut, killed, or exited before draining. */
  unclean: () => number
}

/**
 * The keeper's shutdown, once starts are stopped and slots superseded: serves on through the shutdown
 * delay, closes the listeners, drains every worker (kills a stuck one), and resolves with the exit code
 * once the last one is gone.
 */
export async function drainAll (k: Inside, s: Stopping, signal: string): Promise<number> {
  // A delay lets load balancers notice; with no worker that ever served there is nothing to notice.
  const served = [...k.alive.values()].some((w) => w.ready !== undefined)
  const delay = k.options.shutdownDelay
  if (delay > 0 && !s.forced() && served) {
    k.log.info({ ms: delay }, `${signal}: serving ${delay} ms more before draining (shutdown delay)`)
    await new Promise<void>((resolve) => {
      const timer = later(delay, resolve, { keepAlive: true })
      s.onForce(() => { timer.cancel(); resolve() })
    })
  }
  k.log.info({ count: k.alive.size }, `${signal}: draining ${k.alive.size === 1 ? 'the worker' : `${k.alive.size} workers`}`)
  // The socket closes with the last worker's listener: a connection after that is refused at once
  // (a load balancer tries elsewhere) instead of waiting in a backlog nobody will accept from.
  for (const held of k.held) held.close()
  // One being started is stopped by the abort, and drains what it took.
  for (const worker of k.alive.values()) {
    // A worker whose loop is stuck cannot drain: waiting for its drain timeout serves nobody.
    if (worker.replacing === 'unresponsive') k.kill(worker, 'unresponsive at shutdown')
    else if (worker.state !== 'starting') k.retire(worker, 'shutdown')
  }
  s.unwatch()
  await s.allGone()
  const unclean = s.unclean()
  if (unclean > 0) {
    k.log.error({ count: unclean }, `${unclean === 1 ? 'a worker' : `${unclean} workers`} did not drain cleanly at shutdown (see above): exit code 1`)
  }
  return s.forced() || unclean > 0 ? 1 : 0
}

/** A second stop signal: the delay ends, and every worker cuts what is left and exits now (or is killed in 2 s). */
export function forced (k: Inside, endDelay: () => void, signal: string): void {
  endDelay()
  k.log.warn({}, `second ${signal}: workers cut what is left and exit now`)
  // A worker told to drain on its link hears FORCE there; one on an older @reload/core got SIGTERM, and a
  // second one forces it.
  for (const worker of k.alive.values()) if (!(worker.answersPing && tell(worker, { type: 'force' }))) signalPid(worker.pid, 'SIGTERM')
  later(2000, () => { for (const pid of k.alive.keys()) signalPid(pid, 'SIGKILL') })
}
