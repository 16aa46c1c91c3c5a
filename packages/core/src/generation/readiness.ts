import { writePidFile } from './pidfile.js'
import type { Parts } from './retire.js'

/** Why this generation must not report ready, said as a log line with its code; `why` goes to the parent. */
export interface StartFailure { code: 'ERR_RELOAD_PID_FILE' | 'ERR_RELOAD_LISTEN', message: string, why: string }

/**
 * What must hold before this generation reports ready, done on the way: the pid file written, and the
 * inherited listeners nobody claimed closed. Undefined when it may report ready.
 */
export function startFailure (g: Parts): StartFailure | undefined {
  if (g.wrapped !== undefined) return { code: 'ERR_RELOAD_LISTEN', why: g.wrapped, message: g.wrapped }
  const { pidFile } = g.options()
  // The pid file must never name a dead process while a live one serves: a generation that cannot
  // write it does not serve. At a handover the old one, still named there, serves on.
  if (pidFile !== undefined && g.role.ownsFiles) {
    try {
      writePidFile(pidFile)
    } catch (err) {
      const why = `could not write pidFile ${pidFile} (${(err as Error).message})`
      return {
        code: 'ERR_RELOAD_PID_FILE',
        why,
        message: `${why}; ${g.parent.exists ? 'the serving generation goes on' : 'not serving'}: make its folder writable by this user, or change the pidFile option`
      }
    }
  }
  const closed = g.listeners.closeUnclaimed()
  if (closed.length > 0 && g.role.failsOnUnclaimed) {
    // A keeper's worker that leaves one of its sockets alone serves somewhere nobody sends traffic.
    const listening = g.listeners.bindings.map((b) => b.name).join(', ') || 'nothing'
    const why = `this app does not listen on the keeper's ${closed.join(', ')} (it listens on ${listening}); ` +
      'make it listen on the --listen address (same port, or port 0), or change --listen'
    return { code: 'ERR_RELOAD_LISTEN', why, message: why }
  }
  if (closed.length > 0) g.log().info({ names: closed.join(',') }, 'closed inherited listeners the new code does not use')
  return undefined
}
