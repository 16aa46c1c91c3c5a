import { performance } from 'node:perf_hooks'
import { later, type Later } from '@reload/core/keeper'
import type { Restart, Worker } from './worker.js'

/**
 * One of the keeper's N places for a worker: who serves there now, and its restart history. Changed only
 * by the functions below, and only the Keeper calls them (its parts ask it, through `Inside`).
 */
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

/** `worker` serves in `slot` from now on: a start for it is no longer under way. */
export function serve (slot: Slot, worker: Worker): void {
  slot.starting = undefined
  slot.current = worker
}

/** The slot's worker is gone (it crashed, or stops on its own). */
export function vacate (slot: Slot): void {
  slot.current = undefined
}

/** A roll, the shutdown or a start outside a roll takes the slot over: a restart waiting or under way is no longer wanted. */
export function supersede (slot: Slot): void {
  slot.restart?.cancel()
  slot.restart = undefined
  slot.nextTry = undefined
  slot.starting = undefined
}

/** A roll's new worker takes the slot, ending its crash count; returns the worker it replaces. */
export function rollInto (slot: Slot, worker: Worker, generation: number): Worker | undefined {
  const old = slot.current
  supersede(slot)
  serve(slot, worker)
  counted(slot, { reason: 'roll', detail: `generation ${generation}`, at: Date.now() })
  slot.crashes = 0
  return old
}

/** A start outside a roll begins: it is the slot's as long as `slot.starting` is the abort returned. */
export function startFor (slot: Slot): AbortController {
  supersede(slot)
  const abort = new AbortController()
  slot.starting = abort
  return abort
}

/** A start that is no longer under way (it failed, or its worker took the slot). */
export function started (slot: Slot): void {
  slot.starting = undefined
}

/**
 * The slot's worker starts again after `wait` (`go` then); `crashes` is its count of exits in a row when it
 * changes, and `cause` why, when this is not another try of the same restart.
 */
export function restartAfter (slot: Slot, wait: number, go: () => void, cause?: Restart, crashes?: number): void {
  supersede(slot)
  if (crashes !== undefined) slot.crashes = crashes
  if (cause !== undefined) slot.lastRestart = cause
  slot.nextTry = performance.now() + wait
  slot.restart = later(wait, go, { keepAlive: true })
}

/** One restart more in the slot's history; `cause`, when given, is why. */
export function counted (slot: Slot, cause?: Restart): void {
  slot.restarts++
  if (cause !== undefined) slot.lastRestart = cause
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
