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
