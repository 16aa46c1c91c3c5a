import diagnostics from 'node:diagnostics_channel'
import type { IncomingMessage } from 'node:http'

/** What a signal that cannot start a handover now says, by the refusal's code. */
export const signalRefusals: Record<string, string> = {
  ERR_RELOAD_NOT_READY: 'this generation is not ready yet',
  ERR_RELOAD_IN_PROGRESS: 'a handover is already in progress'
}

/** A listener of the reload signal other than reload's own: a shutdown helper there turns a reload into an exit. */
export function foreignListenerWarning (signal: NodeJS.Signals, ours: (...args: never[]) => unknown): string | undefined {
  if (process.listeners(signal).every((listener) => listener === ours)) return undefined
  return `another ${signal} listener is installed (a shutdown helper such as close-with-grace?); ` +
    `it may stop the app on reload: make it skip ${signal}, or set reload's signal option to another signal`
}

/** Upgraded connections that nothing will tell to go away stay open until drainTimeout, then are cut. */
export function upgradedWarning (upgraded: number, goingAway: number, drainTimeout: number): string | undefined {
  if (upgraded === 0 || goingAway >= upgraded) return undefined
  return `${upgraded} upgraded connections (WebSockets?) are open and nothing closes them: they keep this generation ` +
    `until drainTimeout (${drainTimeout} ms), then are cut. Close them politely with trackWebSockets(wss) ` +
    'from @reload/core, or reloader().goingAway() for another protocol'
}

/** Set on `globalThis` by trackSocketIO(), in whichever copy of @reload/core the app imports. */
export const socketIOTracked = Symbol.for('@reload/core/socket.io')

/**
 * Says once, at the first Socket.IO request (its default path, `/socket.io/`), that `trackSocketIO(io)` was
 * not called: its clients would stay on a draining generation until `drainTimeout`, then be cut.
 */
export function watchForSocketIO (warn: (message: string) => void): void {
  const onRequest = (message: unknown): void => {
    const url = (message as { request?: IncomingMessage }).request?.url
    if (url === undefined || !url.startsWith('/socket.io/')) return
    diagnostics.unsubscribe('http.server.request.start', onRequest)
    if ((globalThis as { [socketIOTracked]?: boolean })[socketIOTracked] === true) return
    warn('Socket.IO requests arrive, and trackSocketIO(io) from @reload/core was not called: at a reload its clients would stay ' +
      'on this generation until drainTimeout, then be cut. Call trackSocketIO(io) once the Socket.IO server is attached')
  }
  diagnostics.subscribe('http.server.request.start', onRequest)
}
