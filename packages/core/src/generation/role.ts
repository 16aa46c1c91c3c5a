import { ReloadError } from '../errors.js'
import type { ChildMessage, ParentMessage } from '../protocol/link.js'
import type { Logger } from '../log.js'
import { served } from '../drain/served.js'

/**
 * What a generation is to the world: standalone (it hands over to the next generation itself) or a
 * worker of a `reload run` keeper (the keeper holds the sockets, the pid file and the socket paths, and
 * replaces its workers). Every difference between the two is a member here, not a branch elsewhere.
 */
export interface Role {
  /** The keeper's pid, for a worker. */
  readonly keeper: number | undefined
  /** A `listen()` whose address matches no inherited socket takes the one on its port (the keeper's `--listen` decides). */
  readonly byPortAlone: boolean
  /** The last generation removes the pid file and unix socket paths, and waits out `shutdownDelay`. */
  readonly ownsFiles: boolean
  /** An inherited socket the app leaves unclaimed fails the start (a worker serving nowhere), instead of being closed. */
  readonly failsOnUnclaimed: boolean
  /** It tells its parent when its listeners are closed and how its drain ended (the keeper names each ending). */
  readonly reportsDrain: boolean
  /**
   * Its drain is asked on the link, not by a signal: once the drain is over, the app's own SIGTERM
   * listeners run (its cleanup: pools, flushes), on servers already closed.
   */
  readonly signalsAppAfterDrain: boolean
  /** Its parent's exit (or the link closing) makes it drain: a worker must not hold the port against a restarted keeper. */
  readonly drainsWithParent: boolean
  /** Why `upgrade()` is refused whatever the state, if it is. */
  upgradeRefusal: () => ReloadError | undefined
  /** What the reload signal does, given how to start a handover. */
  onReloadSignal: (upgrade: () => void, log: Logger) => void
  /** Whether a signal that cannot start a handover now is reported as refused (a worker passes every one on). */
  readonly reportsRefusals: boolean
  /** The answer to what the parent asks on the link, if any. */
  answer: (question: ParentMessage, generation: Asked) => ChildMessage | undefined
}

/** What a keeper may ask of a worker's generation. */
export interface Asked {
  status: () => { requests: number, connections: number, state: string }
  drain: () => void
  /** Cut what is left and exit now, as a second shutdown signal does. */
  force: () => void
}

const standalone: Role = {
  keeper: undefined,
  byPortAlone: false,
  ownsFiles: true,
  failsOnUnclaimed: false,
  reportsDrain: false,
  signalsAppAfterDrain: false,
  drainsWithParent: false,
  upgradeRefusal: () => undefined,
  onReloadSignal: (upgrade) => { upgrade() },
  reportsRefusals: true,
  // A generation's parent asks nothing.
  answer: () => undefined
}

// PONG comes from the event loop on purpose: a loop that is stuck (or a stopped process) says nothing.
function answerKeeper (question: ParentMessage, generation: Asked): ChildMessage | undefined {
  switch (question.type) {
    case 'status': return { type: 'status', ...generation.status(), served: served.count, heap: process.memoryUsage().heapUsed }
    case 'ping': return { type: 'pong' }
    case 'drain':
      // The keeper's own word to drain: it holds even when the app removed reload's SIGTERM listener.
      generation.drain()
      return undefined
    case 'force':
      generation.force()
      return undefined
  }
}

function worker (keeper: number): Role {
  return {
    keeper,
    byPortAlone: true,
    ownsFiles: false,
    failsOnUnclaimed: true,
    reportsDrain: true,
    signalsAppAfterDrain: true,
    drainsWithParent: true,
    upgradeRefusal: () => new ReloadError('ERR_RELOAD_MANAGED', `this process is a worker of the reload run keeper (pid ${keeper}), which replaces its workers itself; ` +
      `reload with \`reload reload\` or \`kill -HUP ${keeper}\``),
    onReloadSignal: (_upgrade, log) => {
      log.info({ keeper }, `passing it on to the keeper (pid ${keeper}), which replaces its workers`)
      try { process.kill(keeper, 'SIGHUP') } catch (err) { log.warn({ keeper }, `could not signal the keeper: ${(err as Error).message}`) }
    },
    reportsRefusals: false,
    answer: answerKeeper
  }
}

/** The role of a process given the keeper's pid it inherited, if any. */
export function roleOf (keeper: number | undefined): Role {
  if (keeper === undefined) return standalone
  // A worker shares the keeper's terminal; once it hangs up, every write to it fails (EIO). The keeper
  // outlives its terminal, and so must its workers, who have requests to finish.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  return worker(keeper)
}
