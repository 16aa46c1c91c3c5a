import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { later, ReloadError, spawnWorker, startCwd, type Later, type Logger } from '@reload/core/keeper'
import type { RunOptions } from './args.js'
import { notify } from './notify.js'
import type { Held } from './listen.js'

/** Where a worker is: starting until it says ready, ready while it serves, draining once told to stop. */
export type WorkerState = 'starting' | 'ready' | 'draining'

interface Worker {
  slot: number
  generation: number
  pid: number
  process: ChildProcess
  link: Socket | undefined
  state: WorkerState
  started: number
  ready: number | undefined
  /** Told to stop (or stopping on its own): its exit is no crash. */
  retiring: boolean
  /** Answers to `STATUS` questions, oldest first. */
  answers: Array<(line: string | undefined) => void>
  /** Resolves once it no longer accepts: it said `ACCEPTING=0`, or exited. */
  closed: Promise<void>
  close: () => void
}

interface Slot {
  index: number
  current: Worker | undefined
  /** Exits in a row without a stable run between: the backoff grows with it. */
  crashes: number
  restart: Later | undefined
  /** A start under way for this slot (a restart); a roll supersedes it. */
  starting: AbortController | undefined
}

/** What `reload reload --wait` and the log say of a finished roll. */
export interface RollResult { generation: number, pids: number[], ms: number }

/** One worker as `reload status` shows it. */
export interface WorkerStatus {
  slot: number
  pid: number
  generation: number
  state: WorkerState
  uptime: number
  requests: number | undefined
  connections: number | undefined
}

export interface KeeperStatus {
  pid: number
  uptime: number
  generation: number
  listening: string[]
  workers: WorkerStatus[]
  rolling: boolean
  restarts: number
  lastRoll: { ok: boolean, generation: number, message: string, at: number } | undefined
}

// A worker that served this long before it died was not crash-looping: its next start is immediate.
// Short on purpose: a worker killed every few seconds (OOM, an operator) still served in between.
const STABLE = 2000
const BACKOFF_FIRST = 250
const BACKOFF_CAP = 10_000
// Past its own drainTimeout, a worker is killed: its own timer should have ended it already.
const KILL_MARGIN = 5000
// How long a roll waits for a drained worker to say it stopped accepting (an app on another version of
// @reload/core may never say it).
const CLOSE_WAIT = 2000

// The keeper's own copy of the preload, for an app that has no @reload/core of its own.
const ownRegister = fileURLToPath(import.meta.resolve('@reload/core/register'))

/**
 * The preload for a worker started in `cwd`: the app's own @reload/core (a new release brings its own,
 * and the old release may be deleted), else the keeper's.
 */
function register (cwd: string): string {
  let path = ownRegister
  // Resolved from the real folder: Node caches a resolution by the path asked from, which a moved
  // `current` symlink keeps.
  try { path = createRequire(join(realpathSync(cwd), 'package.json')).resolve('@reload/core/register') } catch {}
  return pathToFileURL(path).href
}

/**
 * `reload run`: holds the listeners for its whole life and keeps N workers serving on them. Rolls them
 * over one at a time on SIGHUP (a replacement is ready before the worker it replaces drains), starts a
 * crashed one again (connections wait in the kernel's backlog meanwhile), and drains them all on SIGTERM.
 */
export class Keeper {
  readonly #options: RunOptions
  readonly #held: Held[]
  readonly #log: Logger
  readonly #slots: Slot[]
  /** Every worker process alive, serving or draining or starting. */
  readonly #alive = new Map<number, Worker>()
  readonly #started = performance.now()
  readonly #cwd = startCwd()
  readonly #stop = new AbortController()
  #generation = 1
  /** Until the first workers are started (or failed to), a roll would race them. */
  #starting = true
  #restarts = 0
  #roll: Promise<RollResult> | undefined
  #queued: Promise<RollResult> | undefined
  #lastRoll: KeeperStatus['lastRoll']
  #stopping: Promise<number> | undefined
  #forced = false
  /** Ends the shutdown delay early (a second signal). */
  #endDelay = (): void => {}
  readonly #gone: Array<() => void> = []

  constructor (options: RunOptions, held: Held[], log: Logger) {
    this.#options = options
    this.#held = held
    this.#log = log
    this.#slots = Array.from({ length: options.workers }, (_, i) => ({ index: i + 1, current: undefined, crashes: 0, restart: undefined, starting: undefined }))
  }

  get generation (): number { return this.#generation }
  /** The pids of the workers that serve. */
  get pids (): number[] { return this.#pids() }
  get isStopping (): boolean { return this.#stopping !== undefined }

  /** Starts every worker; resolves once all are ready, rejects (having stopped them) when one fails. */
  async start (): Promise<void> {
    const started = performance.now()
    try {
      await Promise.all(this.#slots.map(async (slot) => {
        slot.current = await this.#startWorker(slot, this.#generation)
      }))
    } catch (err) {
      for (const slot of this.#slots) if (slot.current !== undefined) this.#retire(slot.current)
      throw err
    } finally {
      this.#starting = false
    }
    this.#log.info({ ms: Math.round(performance.now() - started), workers: this.#pids().join(',') },
      `${this.#slots.length === 1 ? 'worker' : `${this.#slots.length} workers`} ready on ${this.#held.map((h) => h.label).join(', ')}`)
  }

  /**
   * Replaces every worker, one at a time. A roll asked for while one runs waits for it and then runs once
   * for every request made meanwhile (a burst of SIGHUPs is one more roll, not a storm).
   */
  reload (): Promise<RollResult> {
    if (this.#stopping !== undefined) return Promise.reject(new ReloadError('ERR_RELOAD_DRAINING', 'the keeper is shutting down: nothing to reload'))
    if (this.#starting) return Promise.reject(new ReloadError('ERR_RELOAD_NOT_READY', 'the first workers are still starting: reload once they are ready'))
    if (this.#roll === undefined) {
      this.#roll = this.#rollOnce().finally(() => { this.#roll = undefined })
      return this.#roll
    }
    this.#queued ??= this.#roll.catch(() => {}).then(() => {
      this.#queued = undefined
      return this.reload()
    })
    return this.#queued
  }

  async #rollOnce (): Promise<RollResult> {
    const generation = ++this.#generation
    const started = performance.now()
    const pids: number[] = []
    notify(`RELOADING=1\nSTATUS=rolling over to generation ${generation}`).catch(() => {})
    this.#log.info({ generation, count: this.#slots.length }, `rolling ${this.#slots.length === 1 ? 'the worker' : `${this.#slots.length} workers`} over to generation ${generation}`)
    for (const slot of this.#slots) {
      if (this.#stopping !== undefined) throw new ReloadError('ERR_RELOAD_ABORTED', 'roll abandoned: the keeper is shutting down')
      let next: Worker
      try {
        next = await this.#startWorker(slot, generation)
      } catch (err) {
        const cause = err as ReloadError
        const error = new ReloadError('ERR_RELOAD_ROLL_FAILED',
          `reload failed at worker ${slot.index} of ${this.#slots.length} (${cause.code ?? 'error'}): ${cause.message}. ` +
          `Worker ${slot.index}${slot.index < this.#slots.length ? ' and the ones after it' : ''} keep${slot.index < this.#slots.length ? '' : 's'} serving the previous code; fix it and reload again`,
          { cause })
        this.#log.error({ code: error.code, generation }, error.message)
        this.#lastRoll = { ok: false, generation, message: error.message, at: Date.now() }
        if (this.#stopping === undefined) notify(`READY=1\nSTATUS=reload to generation ${generation} failed; the previous code serves`).catch(() => {})
        throw error
      }
      const old = slot.current
      this.#supersede(slot)
      slot.current = next
      pids.push(next.pid)
      slot.crashes = 0
      this.#log.info({ worker: next.pid, generation }, `worker ${slot.index} ready${old === undefined ? '' : `; pid ${old.pid} drains`}`)
      if (old !== undefined) {
        this.#retire(old)
        // Once the roll is said to be done, no new connection may reach old code.
        await Promise.race([old.closed, new Promise<void>((resolve) => { later(CLOSE_WAIT, resolve) })])
      }
    }
    const result = { generation, pids, ms: Math.round(performance.now() - started) }
    this.#log.info({ generation, ms: result.ms, workers: result.pids.join(',') }, `generation ${generation} serves`)
    this.#lastRoll = { ok: true, generation, message: `generation ${generation} serves (${result.pids.join(', ')})`, at: Date.now() }
    notify(`READY=1\nSTATUS=generation ${generation} serves (pids ${result.pids.join(', ')})`).catch(() => {})
    return result
  }

  /** Drains every worker and resolves with the keeper's exit code once the last one is gone. */
  shutdown (signal: string): Promise<number> {
    if (this.#stopping !== undefined) {
      if (!this.#forced) {
        this.#forced = true
        this.#endDelay()
        this.#log.warn({}, `second ${signal}: workers cut what is left and exit now`)
        for (const pid of this.#alive.keys()) kill(pid, 'SIGTERM')
        later(2000, () => { for (const pid of this.#alive.keys()) kill(pid, 'SIGKILL') })
      }
      return this.#stopping
    }
    notify('STOPPING=1').catch(() => {})
    this.#stopping = this.#drainAll(signal)
    return this.#stopping
  }

  async #drainAll (signal: string): Promise<number> {
    this.#stop.abort(`shutting down on ${signal}`)
    for (const slot of this.#slots) this.#supersede(slot)
    // A delay lets load balancers notice; with no worker that ever served there is nothing to notice.
    const served = [...this.#alive.values()].some((w) => w.ready !== undefined)
    if (this.#options.shutdownDelay > 0 && !this.#forced && served) {
      this.#log.info({ ms: this.#options.shutdownDelay }, `${signal}: serving ${this.#options.shutdownDelay} ms more before draining (shutdown delay)`)
      await new Promise<void>((resolve) => {
        const timer = later(this.#options.shutdownDelay, resolve, { keepAlive: true })
        this.#endDelay = () => { timer.cancel(); resolve() }
      })
    }
    this.#log.info({ count: this.#alive.size }, `${signal}: draining ${this.#alive.size === 1 ? 'the worker' : `${this.#alive.size} workers`}`)
    // The socket closes with the last worker's listener: a connection after that is refused at once
    // (a load balancer tries elsewhere) instead of waiting in a backlog nobody will accept from.
    for (const held of this.#held) held.close()
    // One being started is stopped by the abort above, and drains what it took.
    for (const worker of this.#alive.values()) if (worker.state !== 'starting') this.#retire(worker)
    await this.#allGone()
    return this.#forced ? 1 : 0
  }

  #allGone (): Promise<void> {
    if (this.#alive.size === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const check = (): void => { if (this.#alive.size === 0) resolve() }
      this.#gone.push(check)
    })
  }

  /** Every worker, with what each says it has in flight (asked over its link, briefly). */
  async status (): Promise<KeeperStatus> {
    const workers = [...this.#alive.values()]
    const now = performance.now()
    const answers = await Promise.all(workers.map((w) => this.#ask(w)))
    return {
      pid: process.pid,
      uptime: Math.round(now - this.#started),
      generation: this.#generation,
      listening: this.#held.map((h) => h.label),
      workers: workers.map((w, i) => {
        const answer = answers[i]
        return {
          slot: w.slot,
          pid: w.pid,
          generation: w.generation,
          state: w.state,
          uptime: Math.round(now - w.started),
          requests: answer?.requests,
          connections: answer?.connections
        }
      }).sort((a, b) => a.slot - b.slot || a.generation - b.generation),
      rolling: this.#roll !== undefined,
      restarts: this.#restarts,
      lastRoll: this.#lastRoll
    }
  }

  #ask (worker: Worker): Promise<{ requests: number, connections: number } | undefined> {
    const link = worker.link
    if (link === undefined || link.destroyed) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      const timer = later(500, () => { answer(undefined) })
      const answer = (line: string | undefined): void => {
        timer.cancel()
        const i = worker.answers.indexOf(answer)
        if (i !== -1) worker.answers.splice(i, 1)
        const m = line === undefined ? null : /requests=(\d+) connections=(\d+)/.exec(line)
        resolve(m === null ? undefined : { requests: Number(m[1]), connections: Number(m[2]) })
      }
      worker.answers.push(answer)
      link.write('STATUS\n', (err) => { if (err != null) answer(undefined) })
    })
  }

  #pids (): number[] {
    return this.#slots.map((s) => s.current?.pid).filter((pid): pid is number => pid !== undefined)
  }

  #env (): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, RELOAD_KEEPER: String(process.pid) }
    // The worker's own drain budget is the keeper's, unless its code sets one.
    env.RELOAD_DRAIN_TIMEOUT ??= String(this.#options.drainTimeout)
    if (this.#options.preload) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${register(this.#cwd)}`.trim()
    return env
  }

  /** Starts a worker for `slot` and resolves once it is ready; rejects with the coded reason otherwise. */
  async #startWorker (slot: Slot, generation: number): Promise<Worker> {
    const [file, ...args] = this.#options.command as [string, ...string[]]
    let worker: Worker | undefined
    const child = await spawnWorker({
      fds: this.#held.map((h) => h.fd),
      names: this.#held.map((h) => h.name),
      generation,
      readyTimeout: this.#options.readyTimeout,
      killAfter: this.#options.drainTimeout + KILL_MARGIN,
      // A `current` symlink that a deploy moves: each worker starts in what it points to now.
      cwd: this.#cwd,
      signal: this.#stop.signal,
      what: `worker ${slot.index} (generation ${generation})`,
      command: { file, args, env: this.#env(), stdin: 'ignore' },
      onSpawn: (pid, _attempt, process) => {
        let close = (): void => {}
        const closed = new Promise<void>((resolve) => { close = resolve })
        worker = { slot: slot.index, generation, pid, process, link: undefined, state: 'starting', started: performance.now(), ready: undefined, retiring: false, answers: [], closed, close }
        process.once('exit', close)
        this.#alive.set(pid, worker)
        process.once('exit', () => this.#exited(pid))
        this.#log.info({ worker: pid, generation }, `starting worker ${slot.index}`)
      }
    })
    const ready = worker as Worker
    ready.link = child.link
    ready.state = 'ready'
    ready.ready = performance.now()
    this.#watch(slot, ready)
    return ready
  }

  #exited (pid: number): void {
    this.#alive.delete(pid)
    if (this.#alive.size === 0) for (const done of this.#gone.splice(0)) done()
  }

  #watch (slot: Slot, worker: Worker): void {
    const link = worker.link
    let buffer = ''
    link?.on('data', (chunk: string | Buffer) => {
      buffer += String(chunk)
      let end: number
      while ((end = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, end)
        buffer = buffer.slice(end + 1)
        if (line.startsWith('STATUS ')) worker.answers[0]?.(line)
        else if (line === 'STOPPING=1') this.#stoppingOnItsOwn(slot, worker)
        else if (line === 'ACCEPTING=0') worker.close()
      }
    })
    link?.on('error', () => {})
    worker.process.once('exit', (code, signal) => {
      for (const answer of [...worker.answers]) answer(undefined)
      link?.destroy()
      if (worker.retiring) {
        this.#log.info({ worker: worker.pid, code: signal ?? code }, `worker ${worker.slot} (generation ${worker.generation}) drained and exited`)
        return
      }
      this.#crashed(slot, worker, code, signal)
    })
  }

  // A worker that drains though the keeper did not ask (someone sent it SIGTERM, or the app called
  // drain()) leaves its slot: a replacement starts now, while it finishes what it took.
  #stoppingOnItsOwn (slot: Slot, worker: Worker): void {
    if (worker.retiring || this.#stopping !== undefined) return
    worker.retiring = true
    worker.state = 'draining'
    this.#log.warn({ worker: worker.pid }, `worker ${slot.index} (pid ${worker.pid}) is stopping on its own (a SIGTERM not from the keeper?): starting a replacement`)
    if (slot.current === worker) {
      slot.current = undefined
      this.#restart(slot, 0)
    }
  }

  #crashed (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.current !== worker || this.#stopping !== undefined) return
    slot.current = undefined
    const lived = performance.now() - (worker.ready ?? worker.started)
    if (lived >= STABLE) slot.crashes = 0
    slot.crashes++
    const wait = backoff(slot.crashes)
    const how = signal ?? `code ${code ?? '?'}`
    const after = `${(lived / 1000).toFixed(1)} s`
    if (slot.crashes >= 3) {
      this.#log.error({ worker: worker.pid, crashes: slot.crashes, wait },
        `worker ${slot.index} is crash-looping: ${slot.crashes} exits in a row (pid ${worker.pid}: ${how} after ${after}); ` +
        `next start in ${wait} ms. The listeners stay open and connections wait in the backlog; fix the app and reload`)
    } else {
      this.#log.warn({ worker: worker.pid, wait }, `worker ${slot.index} (pid ${worker.pid}) exited with ${how} after ${after}; starting it again${wait > 0 ? ` in ${wait} ms` : ''}`)
    }
    this.#restart(slot, wait)
  }

  #restart (slot: Slot, wait: number): void {
    this.#supersede(slot)
    slot.restart = later(wait, () => {
      slot.restart = undefined
      const abort = new AbortController()
      slot.starting = abort
      this.#restarts++
      const generation = this.#generation
      this.#startWorker(slot, generation).then((worker) => {
        if (slot.starting !== abort || this.#stopping !== undefined) {
          this.#retire(worker)
          return
        }
        slot.starting = undefined
        slot.current = worker
        this.#log.info({ worker: worker.pid, generation }, `worker ${slot.index} serves again`)
      }, (err: ReloadError) => {
        if (slot.starting !== abort || this.#stopping !== undefined) return
        slot.starting = undefined
        slot.crashes++
        const next = backoff(slot.crashes)
        this.#log.error({ code: err.code, crashes: slot.crashes, wait: next },
          `worker ${slot.index} did not start (${err.message}); ${slot.crashes >= 3 ? 'crash loop: ' : ''}next start in ${next} ms`)
        this.#restart(slot, next)
      })
    }, { keepAlive: true })
  }

  // A roll (or shutdown) takes the slot over: a restart waiting or under way is no longer wanted.
  #supersede (slot: Slot): void {
    slot.restart?.cancel()
    slot.restart = undefined
    slot.starting = undefined
  }

  #retire (worker: Worker): void {
    if (worker.retiring && worker.state === 'draining') return
    worker.retiring = true
    worker.state = 'draining'
    kill(worker.pid, 'SIGTERM')
    const killAfter = this.#options.drainTimeout + KILL_MARGIN
    later(killAfter, () => {
      if (this.#alive.has(worker.pid)) {
        this.#log.warn({ worker: worker.pid }, `worker ${worker.slot} (pid ${worker.pid}) still runs ${killAfter} ms after SIGTERM: killing it`)
        kill(worker.pid, 'SIGKILL')
      }
    })
  }
}

/** 0 for the first exit, then 250 ms doubling up to 10 s. */
export function backoff (crashes: number): number {
  if (crashes <= 1) return 0
  return Math.min(BACKOFF_FIRST * 2 ** (crashes - 2), BACKOFF_CAP)
}

function kill (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch {}
}
