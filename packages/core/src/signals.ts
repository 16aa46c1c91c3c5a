/** Installs `handler` for each signal; returns the uninstaller. */
export function onSignals (signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void): () => void {
  for (const signal of signals) process.on(signal, handler)
  return () => { for (const signal of signals) process.off(signal, handler) }
}

/** Listeners of `signal` other than `ours`: a shutdown helper there turns a reload into an exit. */
export function foreignListeners (signal: NodeJS.Signals, ours: (...args: never[]) => unknown): number {
  return process.listeners(signal).filter((listener) => listener !== ours).length
}
