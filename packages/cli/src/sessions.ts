import { performance } from 'node:perf_hooks'
import { later, type Logger } from '@reload/core/keeper'
import { sessionMembers } from './supervise.js'

// What is left of a worker's session when it is gone gets this long between SIGTERM and SIGKILL.
export const SESSION_GRACE = 3000

function kill (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch {}
}

/**
 * Ends what is left of exited workers' sessions (the app's children and theirs): SIGTERM, then SIGKILL
 * after a grace. A helper meant to outlive its worker starts a session of its own (`detached: true`).
 */
export class Sessions {
  readonly #log: Logger
  readonly #grace: number
  readonly #ending = new Set<number>()
  readonly #idle: Array<() => void> = []

  constructor (log: Logger, grace = SESSION_GRACE) {
    this.#log = log
    this.#grace = grace
  }

  /** Sessions still being ended. */
  get size (): number { return this.#ending.size }

  /** Calls `done` once no session is being ended (at once when none is). */
  whenIdle (done: () => void): void {
    if (this.#ending.size === 0) done()
    else this.#idle.push(done)
  }

  /** Ends session `sid`, that of worker `label`, if anything is left in it. */
  end (sid: number, label: string): void {
    const left = sessionMembers(sid)
    if (left.length === 0) return
    this.#ending.add(sid)
    this.#log.warn({ worker: sid, pids: left.join(',') },
      `${label} (pid ${sid}) left ${left.length === 1 ? 'a process' : `${left.length} processes`} of its own: SIGTERM now, SIGKILL in ${this.#grace} ms`)
    for (const pid of left) kill(pid, 'SIGTERM')
    const deadline = performance.now() + this.#grace
    const poll = (): void => {
      const still = sessionMembers(sid)
      if (still.length > 0 && performance.now() < deadline) { later(50, poll, { keepAlive: true }); return }
      if (still.length > 0) {
        this.#log.warn({ worker: sid, pids: still.join(',') }, `killing what is left of ${label}'s session (pid ${sid}) after ${this.#grace} ms`)
        for (const pid of still) kill(pid, 'SIGKILL')
      }
      this.#ending.delete(sid)
      if (this.#ending.size === 0) for (const done of this.#idle.splice(0)) done()
    }
    later(50, poll, { keepAlive: true })
  }
}
