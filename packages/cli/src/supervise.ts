import { readdirSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

/** What the supervisor watches of a serving worker. */
export interface Watched {
  pid: number
  /** It said `LIVENESS=1`: it answers `PING` with `PONG` from its event loop. */
  answersPing: boolean
  /** When it last answered (or became ready), on the `performance.now()` clock. */
  lastPong: number
  /** Asks it once more; a worker whose loop is stuck or that is stopped leaves it unanswered. */
  ping: () => void
}

export interface SuperviseOptions {
  /** How long a worker may leave pings unanswered before it is unresponsive; Infinity: never. */
  livenessTimeout: number
  /** Resident memory in bytes past which a worker is recycled; undefined: never. */
  maxMemory: number | undefined
}

export interface SuperviseEvents<W extends Watched> {
  /** The workers to look at now: those that serve (not starting, not draining, not being replaced). */
  serving: () => Iterable<W>
  unresponsive: (worker: W, silent: number) => void
  overMemory: (worker: W, rss: number) => void
}

// Memory is looked at this often: a leak of 100 MB/s passes a cap by at most 50 MB before it is seen.
const MEMORY_EVERY = 500

/** The ping period for a liveness timeout: four tries within it, at most one a second. */
export function pingEvery (livenessTimeout: number): number {
  return Math.max(25, Math.min(1000, Math.floor(livenessTimeout / 4)))
}

/**
 * Watches the keeper's serving workers: a worker whose event loop leaves pings unanswered for the
 * liveness timeout is unresponsive (a busy loop, a deadlock, SIGSTOP), and one whose resident memory
 * passes the cap is over memory. It only reports: what to do is the keeper's.
 */
export class Supervisor<W extends Watched> {
  readonly #options: SuperviseOptions
  readonly #events: SuperviseEvents<W>
  readonly #rss: (pid: number) => number | undefined
  #timer: NodeJS.Timeout | undefined
  #lastMemory = 0

  constructor (options: SuperviseOptions, events: SuperviseEvents<W>, rss = rssOf) {
    this.#options = options
    this.#events = events
    this.#rss = rss
  }

  get isOn (): boolean { return Number.isFinite(this.#options.livenessTimeout) || this.#options.maxMemory !== undefined }

  start (): void {
    if (!this.isOn || this.#timer !== undefined) return
    const every = Number.isFinite(this.#options.livenessTimeout) ? Math.min(pingEvery(this.#options.livenessTimeout), MEMORY_EVERY) : MEMORY_EVERY
    this.#timer = setInterval(() => this.tick(performance.now()), every)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** One look at every serving worker at time `now`. */
  tick (now: number): void {
    const { livenessTimeout, maxMemory } = this.#options
    const memory = maxMemory !== undefined && now - this.#lastMemory >= MEMORY_EVERY - 5
    if (memory) this.#lastMemory = now
    for (const worker of [...this.#events.serving()]) {
      if (Number.isFinite(livenessTimeout) && worker.answersPing) {
        const silent = now - worker.lastPong
        if (silent > livenessTimeout) {
          this.#events.unresponsive(worker, silent)
          continue
        }
        worker.ping()
      }
      if (memory) {
        const rss = this.#rss(worker.pid)
        if (rss !== undefined && rss > maxMemory) this.#events.overMemory(worker, rss)
      }
    }
  }
}

/** A process's resident memory in bytes, from /proc; undefined when it is gone or cannot be read (EMFILE). */
export function rssOf (pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

// Linux reports CPU times in USER_HZ, 100 a second on every architecture it runs on.
const TICKS = 100

/** CPU time (user and system) a process has used, in seconds, from /proc; undefined when it is gone. */
export function cpuSecondsOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After the command name: state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS
  } catch {
    return undefined
  }
}

/**
 * The live processes of session `sid` (zombies aside): a worker is its session's leader, so these are
 * the app's children and theirs, unless one started a session of its own on purpose.
 */
export function sessionMembers (sid: number): number[] {
  const members: number[] = []
  let names: string[]
  try { names = readdirSync('/proc') } catch { return members }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8') } catch { continue }
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // state ppid pgrp session …
    if (Number(fields[3]) === sid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(name))
  }
  return members
}
