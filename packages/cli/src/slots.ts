import type { Later } from '@reload/core/keeper'
import type { Restart, Worker } from './worker.js'

/** One of the keeper's N places for a worker: who serves there now, and its restart history. */
export interface Slot {
  index: number
  current: Worker | undefined
  /** Exits in a row without a stable run between: the backoff grows with it. */
  crashes: number
  restart: Later | undefined
  /** A start under way for this slot (a restart or a replacement); a roll supersedes it. */
  starting: AbortController | undefined
  /** When the restart waiting in `restart` starts (performance.now()). */
  nextTry: number | undefined
  restarts: number
  lastRestart: Restart | undefined
}

/** `count` empty slots, numbered from 1. */
export function newSlots (count: number): Slot[] {
  return Array.from({ length: count }, (_, i) => ({
    ...{ index: i + 1, current: undefined, crashes: 0, restart: undefined, starting: undefined },
    ...{ nextTry: undefined, restarts: 0, lastRestart: undefined }
  }))
}

/** A worker that served this long before it died was not crash-looping: its next start is immediate. */
// Short on purpose: a worker killed every few seconds (OOM, an operator) still served in between.
export const STABLE = 2000
const BACKOFF_FIRST = 250
export const BACKOFF_CAP = 10_000

/** 0 for the first exit, then 250 ms doubling up to 10 s. */
export function backoff (crashes: number): number {
  if (crashes <= 1) return 0
  return Math.min(BACKOFF_FIRST * 2 ** (crashes - 2), BACKOFF_CAP)
}

/**
 * The crash count after a worker that lived `lived` ms exited: a stable run starts the count anew.
 * Returns the new count and the wait before the next start.
 */
export function afterExit (crashes: number, lived: number): { crashes: number, wait: number } {
  const count = (lived >= STABLE ? 0 : crashes) + 1
  return { crashes: count, wait: backoff(count) }
}
