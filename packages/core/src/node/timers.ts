/** The longest delay a Node timer keeps: a longer one fires after 1 ms (with a TimeoutOverflowWarning). */
export const MAX_DELAY = 2 ** 31 - 1

/** A timer that can be cancelled; a no-op when its delay means "never". */
export interface Later { cancel: () => void }

/**
 * Calls `fn` after `ms`, or never when `ms` is beyond what a Node timer can hold (a "no limit" value such
 * as `Infinity` or `3e9`), instead of after 1 ms. Unref'd unless `keepAlive`: no timer of reload's keeps a
 * process alive on its own.
 */
export function later (ms: number, fn: () => void, { keepAlive = false } = {}): Later {
  if (!(ms <= MAX_DELAY)) return { cancel () {} }
  const timer = setTimeout(fn, Math.max(0, ms))
  if (!keepAlive) timer.unref()
  return { cancel: () => clearTimeout(timer) }
}

/** Resolves after `ms`, or never for a "no limit" value; the promise keeps no process alive. */
export function delay (ms: number): Promise<void> {
  return new Promise((resolve) => { later(ms, resolve) })
}
