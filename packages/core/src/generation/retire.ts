import type { GoAway } from '../drain/goaway.js'
import type { ChildDeath, Handover } from './handover.js'
import type { Cut } from '../drain/ledger.js'
import type { DrainReason, Lifecycle } from './lifecycle.js'
import type { Listeners } from '../listen/listeners.js'
import { removeSocket } from '../listen/unix.js'
import type { Logger } from '../log.js'
import type { ResolvedOptions } from './options.js'
import type { ParentLink } from '../protocol/parent.js'
import { removePidFile, writePidFile } from './pidfile.js'
import type { Role } from './role.js'
import type { Servers } from '../listen/servers.js'
import { shutdown } from '../drain/shutdown.js'
import { delay, later } from '../node/timers.js'

/** The parts of a generation its drain and exit go through, each the owner of its own state. */
export interface Parts {
  /** This generation's number. */
  readonly number: number
  readonly life: Lifecycle
  readonly role: Role
  readonly parent: ParentLink
  readonly handover: Handover
  readonly listeners: Listeners
  readonly servers: Servers
  readonly goAway: GoAway
  readonly beforeExit: ReadonlySet<() => unknown>
  /** Aborted by a second shutdown signal. */
  readonly force: AbortSignal
  /** Whether a shutdown signal came (the app's own listeners of it ran then). */
  readonly heardSignal: boolean
  /** Why this server must not serve: a wrapper that a keeper started as its worker started it. */
  readonly wrapped: string | undefined
  /** The signal handlers and the like, removed when the process is not to exit. */
  readonly uninstall: Array<() => void>
  options: () => ResolvedOptions
  log: () => Logger
  /** The drain begins: the app's `drain` event, and its warnings. */
  began: (reason: DrainReason) => void
  /** The drain is over: the app's `exit` event. */
  ended: (code: number, cut: Cut) => void
  fatal: (err: unknown) => void
}

/**
 * Stops accepting, lets what this generation took finish, runs the `beforeExit` hooks and exits, all
 * within `drainTimeout`. The way back may call it off before the hooks.
 */
export async function drainAndExit (reason: DrainReason, g: Parts): Promise<void> {
  const options = g.options()
  const start = Date.now()
  // A new generation stopped before it was ready shares its unix paths with the one that serves.
  // Under a keeper, the keeper owns the socket paths and the pid file, and its workers never wait for a
  // load balancer: the socket stays open through them all.
  const wasLast = reason === 'shutdown' && g.role.ownsFiles && (g.life.wasReady || !g.parent.exists)
  if (reason === 'shutdown' && g.parent.pid !== undefined) g.parent.stopping().catch(g.fatal)
  const wayBack = reason === 'upgrade' ? g.life.wayBack : undefined
  const { code: drained, cut, cancelled } = await shutdown({
    ledgers: g.servers.ledgers,
    hooks: [...g.beforeExit],
    delay: wasLast ? options.shutdownDelay : 0,
    budget: options.drainTimeout,
    log: g.log(),
    force: g.force,
    onDrain: () => {
      g.life.drainBegan(reason)
      g.goAway.begin(options.goAwayWindow)
      g.began(reason)
      // The ledgers close the listeners right after this returns, in the same turn.
      if (g.role.reportsDrain) queueMicrotask(() => { g.parent.closedListeners().catch(g.fatal) })
    },
    cancel: wayBack?.cancelled ?? new AbortController().signal,
    // Past here the hooks (Fastify's app.close()) may have closed what the way back would need.
    onHooks: () => wayBack?.close()
  })
  if (cancelled) return
  wayBack?.close()
  const code = Math.max(drained, g.life.exitFloor)
  // Only the last generation removes the socket paths and the pid file: at a handover they are the next one's.
  if (wasLast) {
    if (options.pidFile !== undefined) removePidFile(options.pidFile)
    for (const path of g.listeners.paths) removeSocket(path)
  }
  g.life.stopped()
  // A keeper's worker whose app has its own SIGTERM listeners keeps its servers attached until it exits:
  // their close(cb) must answer as it would without reload (see handToApp).
  if (!(options.exit && g.role.signalsAppAfterDrain)) g.servers.detachAll()
  // Until process.exit() the handlers stay: without them a SIGHUP in the last moment would end the
  // process by its default action instead of with this exit code.
  if (!options.exit) for (const uninstall of g.uninstall.splice(0)) uninstall()
  g.ended(code, cut)
  g.log().info({ code }, 'exiting')
  // The keeper names how each worker ended (drained, or cut N) and exits non-zero for a cut shutdown.
  if (g.role.reportsDrain) await Promise.race([g.parent.drained(cut), delay(200)])
  if (options.exit && g.role.signalsAppAfterDrain && !g.heardSignal && handToApp(g, code, start + options.drainTimeout)) return
  // With exit: true the kernel closes the link when this process is really gone, so the next generation
  // never starts a third one while this one still runs its exit handlers.
  if (options.exit) process.exit(code)
  g.handover.letGo()
}

/**
 * The app's own SIGTERM listeners (a framework's shutdown: Next.js, Nitro, SvelteKit), run now that the
 * drain is over: the keeper asked on the link, so no signal came and they have not run. Their cleanup
 * (pools, flushes) still happens, on servers already closed, where a server.close(cb) answers as it would
 * have without reload. They usually end with process.exit(); if they do not, this generation exits with
 * `code` once nothing keeps the process alive, or at the end of the drain budget (at least a second
 * from now). False when the app has no such listener.
 */
function handToApp (g: Parts, code: number, deadline: number): boolean {
  for (const uninstall of g.uninstall.splice(0)) uninstall()
  if (process.listenerCount('SIGTERM') === 0) return false
  g.log().info({}, "the drain is over: running the app's own SIGTERM listeners")
  process.exitCode = code
  later(Math.max(1000, deadline - Date.now()), () => process.exit(code))
  process.emit('SIGTERM', 'SIGTERM')
  return true
}

/**
 * The way back: the next generation died while this one drained, so this one listens again on the
 * sockets its holder kept, calls off the drain and serves. False when it could not (no holder, or the
 * drain reached its hooks).
 */
export async function takeBack (g: Parts, death: ChildDeath): Promise<boolean> {
  const wayBack = g.life.wayBack
  if (wayBack === undefined || !wayBack.isOpen) return false
  const log = g.log()
  log.warn({ child: death.pid }, `generation ${g.number + 1} died (${death.signal ?? `code ${death.code ?? '?'}`}) while pid ${process.pid} drained: taking the listeners back`)
  try {
    if (!await wayBack.takeBack(g.listeners, g.servers, () => g.life.state === 'draining')) return false
  } catch (err) {
    log.error({ err }, `could not take the listeners back (${(err as Error).message}); this generation drains and exits`)
    return false
  }
  g.life.tookBack()
  g.goAway.reset()
  const { pidFile } = g.options()
  if (pidFile !== undefined) {
    try { writePidFile(pidFile) } catch (err) { log.error({ code: 'ERR_RELOAD_PID_FILE' }, `could not write pidFile ${pidFile} (${(err as Error).message})`) }
  }
  log.warn({ generation: g.number }, `generation ${g.number} serves again`)
  return true
}
