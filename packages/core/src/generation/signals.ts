import type { Logger } from '../log.js'

/** Installs `handler` for each signal; returns the uninstaller. */
export function onSignals (signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void): () => void {
  for (const signal of signals) process.on(signal, handler)
  return () => { for (const signal of signals) process.off(signal, handler) }
}

/** What a generation does on its signals. */
export interface SignalActions {
  /** Why a handover cannot start now (said in the log), or undefined to start one. */
  refusal: () => string | undefined
  upgrade: () => void
  /** Whether this generation already drains. */
  isRetiring: () => boolean
  shutdown: () => void
  /** A second shutdown signal: cut what is left and exit now. */
  force: () => void
  /** A shutdown signal came (the app's own listeners of it, if any, ran at once too). */
  heard: (signal: NodeJS.Signals) => void
}

/**
 * The reload signal starts a handover (or says why not); the first shutdown signal drains, a second one
 * (also while a handover's drain runs) cuts and exits. Returns the uninstaller.
 */
export function installSignals (signal: NodeJS.Signals | false, shutdownSignals: readonly NodeJS.Signals[] | false,
  actions: SignalActions, log: () => Logger): { uninstall: () => void, upgradeHandler: (signal: NodeJS.Signals) => void } {
  // Shutdown signals since this generation began to retire: the first starts (or joins) the drain, the
  // next cuts it short.
  let strikes = 0
  const onUpgrade = (name: NodeJS.Signals): void => {
    const why = actions.refusal()
    if (why !== undefined) {
      log().warn({}, `${name} ignored: ${why}`)
      return
    }
    log().info({}, `${name} received`)
    actions.upgrade()
  }
  const onShutdown = (name: NodeJS.Signals): void => {
    actions.heard(name)
    if (!actions.isRetiring()) {
      strikes = 1
      log().info({}, `${name} received`)
      actions.shutdown()
      return
    }
    strikes++
    if (strikes === 1) {
      log().info({}, `${name} received while draining; send it again to exit now`)
    } else if (strikes === 2) {
      log().warn({}, `second ${name}: cutting what is left and exiting now`)
      actions.force()
    }
  }
  const uninstall: Array<() => void> = []
  if (signal !== false && process.platform !== 'win32') uninstall.push(onSignals([signal], onUpgrade))
  if (shutdownSignals !== false) uninstall.push(onSignals(shutdownSignals, onShutdown))
  return { uninstall: () => { for (const fn of uninstall.splice(0)) fn() }, upgradeHandler: onUpgrade }
}
