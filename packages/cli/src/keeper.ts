import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
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
import { cpuSecondsOf, rssOf, sessionMembers, Supervisor } from './supervise.js'

/** Where a worker is: starting until it says ready, ready while it serves, draining once told to stop. */
export type WorkerState = 'starting' | 'ready' | 'draining'

/** Why the keeper replaced a worker that still ran. */
export type ReplaceReason = 'unresponsive' | 'memory'

/** Why a slot's worker was started again: a roll, or it exited (crash), stopped on its own, or was replaced. */
export type RestartReason = 'roll' | 'crash' | 'stopped' | ReplaceReason

/** A slot's last restart: why, in words (an exit code or signal, a silence, a size), and when (epoch ms). */
export interface Restart { reason: RestartReason, detail: string, at: number }

/** How a worker that was told to stop ended. */
export type DrainEnd = 'drained' | 'cut' | 'killed' | 'exited'

/** A finished roll, as `reload status` lists the last ones. */
export interface RollRecord { ok: boolean, generation: number, ms: number, message: string, code: string | undefined, at: number }

/** What the keeper tells its observers (the metrics), as it happens. */
export interface KeeperEvents {
  roll: [RollRecord]
  /** A start outside a roll (rolls are `roll` events). */
  restart: [{ slot: number, reason: Exclude<RestartReason, 'roll'> }]
  drained: [{ slot: number, pid: number, ms: number, end: DrainEnd, cut: number }]
}

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
  /** It said `LIVENESS=1`: it answers `PING`, obeys `DRAIN` and says `ACCEPTING=0` (a current @reload/core). */
  answersPing: boolean
  lastPong: number
  ping: () => void
  /** Why a replacement is being started for it while it still runs. */
  replacing: ReplaceReason | undefined
  /** Not looked at for memory again before this time (its replacement failed to start). */
  holdUntil: number
  /** What it said of its drain just before it exited. */
  drained: { requests: number, connections: number } | undefined
  /** Why the keeper SIGKILLed it. */
  killed: string | undefined
  /** When it was told to stop (performance.now()). */
  retired: number | undefined
  /** CPU seconds at the last look, and when: the percentage is taken between two looks. */
  cpu: { seconds: number, at: number, percent: number | undefined } | undefined
}

interface Slot {
  index: number
  current: Worker | undefined
  /** Exits in a row without a stable run between: the backoff grows with it. */
  crashes: number
  restart: Later | undefined
  /** A start under way for this slot (a restart); a roll supersedes it. */
  starting: AbortController | undefined
  /** When the restart waiting in `restart` starts (performance.now()). */
  nextTry: number | undefined
  restarts: number
  lastRestart: Restart | undefined
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
  /** Resident memory in bytes. */
  rss: number | undefined
  /** Why it is being replaced, while it is. */
  replacing: ReplaceReason | undefined
  /** V8 heap in use, in bytes, as the worker says. */
  heap: number | undefined
  /** Requests it has taken since it started. */
  served: number | undefined
  /** CPU time it has used, in seconds, and its share of one core since the last look (or since it started). */
  cpu: number | undefined
  cpuPercent: number | undefined
  /** Its slot's restarts, and why the last one happened. */
  restarts: number
  lastRestart: Restart | undefined
}

/** A slot with no serving worker: its worker starts, or waits out its backoff before the next try. */
export interface SlotStatus { slot: number, state: 'starting' | 'backoff', nextTryIn: number | undefined, restarts: number, lastRestart: Restart | undefined }

/** A worker the keeper replaced while it still ran, and why. */
export interface Replacement { reason: ReplaceReason, slot: number, pid: number, message: string, at: number }

export interface KeeperStatus {
  pid: number
  uptime: number
  generation: number
  listening: string[]
  workers: WorkerStatus[]
  rolling: boolean
  restarts: number
  /** Workers replaced while they still ran, by reason. */
  replaced: Record<ReplaceReason, number>
  lastReplaced: Replacement | undefined
  /** Liveness timeout in ms (null: off), memory cap in bytes (null: off). */
  liveness: number | null
  maxMemory: number | null
  lastRoll: { ok: boolean, generation: number, message: string, at: number } | undefined
  /** The last rolls, newest first. */
  rolls: RollRecord[]
  /** Slots that have no serving worker now. */
  waiting: SlotStatus[]
}

// A worker that served this long before it died was not crash-looping: its next start is immediate.
// Short on purpose: a worker killed every few seconds (OOM, an operator) still served in between.
const STABLE = 2000
const BACKOFF_FIRST = 250
const BACKOFF_CAP = 10_000
// Past its own drainTimeout, a worker is killed: its own timer should have ended it already.
const KILL_MARGIN = 5000
// How long a roll waits for a drained worker to say it stopped accepting. A current worker says it in the
// same turn as the drain starts: one that has not by then is killed before the roll is done. An app on an
// older @reload/core may never say it, and is let be.
const CLOSE_WAIT = 2000
// What is left of a worker's session when it is gone gets this long between SIGTERM and SIGKILL.
const SESSION_GRACE = 3000
// How many finished rolls `reload status` lists.
const ROLLS_KEPT = 5

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
  /** Workers that ended a shutdown otherwise than drained: cut, killed, or exited before draining. */
  #unclean = 0
  readonly #replaced: Record<ReplaceReason, number> = { unresponsive: 0, memory: 0 }
  #lastReplaced: Replacement | undefined
  /** Sessions of exited workers with processes left, being ended. */
  readonly #reaping = new Set<number>()
  readonly #supervisor: Supervisor<Worker>
  readonly #rolls: RollRecord[] = []
  /** Rolls, restarts and drains as they happen. */
  readonly events = new EventEmitter<KeeperEvents>()
  /** Ends the shutdown delay early (a second signal). */
  #endDelay = (): void => {}
  readonly #gone: Array<() => void> = []

  constructor (options: RunOptions, held: Held[], log: Logger) {
    this.#options = options
    this.#held = held
    this.#log = log
    this.#slots = Array.from({ length: options.workers }, (_, i) => ({
      ...{ index: i + 1, current: undefined, crashes: 0, restart: undefined, starting: undefined },
      ...{ nextTry: undefined, restarts: 0, lastRestart: undefined }
    }))
    this.#supervisor = new Supervisor({ livenessTimeout: this.#livenessTimeout(), maxMemory: options.maxMemory }, {
      serving: () => this.#slots.flatMap((s) => s.current !== undefined && s.current.state === 'ready' && s.current.replacing === undefined ? [s.current] : []),
      unresponsive: (worker, silent) => this.#replace(worker, 'unresponsive',
        `its event loop has not answered for ${(silent / 1000).toFixed(1)} s (liveness timeout ${this.#options.livenessTimeout} ms: a busy loop, a deadlock, or a stopped process)`),
      overMemory: (worker, rss) => {
        if (performance.now() < worker.holdUntil) return
        this.#replace(worker, 'memory', `its resident memory ${mb(rss)} passed --max-memory ${mb(this.#options.maxMemory ?? 0)}`)
      }
    })
  }

  // A debugger paused at a breakpoint stops the event loop as a hang does: such workers are not watched.
  #livenessTimeout (): number {
    const inspected = [...this.#options.command, process.env.NODE_OPTIONS ?? ''].some((arg) => /--inspect(-brk|-wait)?\b/.test(arg))
    return inspected ? Infinity : this.#options.livenessTimeout
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
    this.#supervisor.start()
    if (this.#livenessTimeout() !== this.#options.livenessTimeout) {
      this.#log.warn({}, 'liveness is off: the workers run with --inspect, and a debugger paused at a breakpoint would look like a hang')
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
        if (this.#stopping !== undefined) throw new ReloadError('ERR_RELOAD_ABORTED', 'roll abandoned: the keeper is shutting down', { cause })
        const error = new ReloadError('ERR_RELOAD_ROLL_FAILED',
          `reload failed at worker ${slot.index} of ${this.#slots.length} (${cause.code ?? 'error'}): ${cause.message}. ` +
          `Worker ${slot.index}${slot.index < this.#slots.length ? ' and the ones after it' : ''} keep${slot.index < this.#slots.length ? '' : 's'} serving the previous code; fix it and reload again`,
          { cause })
        this.#log.error({ code: error.code, generation }, error.message)
        this.#lastRoll = { ok: false, generation, message: error.message, at: Date.now() }
        this.#record({ ok: false, generation, ms: Math.round(performance.now() - started), message: error.message, code: cause.code, at: Date.now() })
        if (this.#stopping === undefined) notify(`READY=1\nSTATUS=reload to generation ${generation} failed; the previous code serves`).catch(() => {})
        throw error
      }
      const old = slot.current
      this.#supersede(slot)
      slot.current = next
      slot.restarts++
      slot.lastRestart = { reason: 'roll', detail: `generation ${generation}`, at: Date.now() }
      pids.push(next.pid)
      slot.crashes = 0
      this.#log.info({ worker: next.pid, generation }, `worker ${slot.index} ready${old === undefined ? '' : `; pid ${old.pid} drains`}`)
      if (old !== undefined) {
        this.#retire(old)
        // Once the roll is said to be done, no new connection may reach old code.
        const closed = await Promise.race([old.closed.then(() => true), new Promise<boolean>((resolve) => { later(CLOSE_WAIT, () => resolve(false)) })])
        if (!closed && old.answersPing && this.#alive.has(old.pid)) {
          this.#kill(old, `because it still accepted connections ${CLOSE_WAIT} ms after it was told to drain`)
          await old.closed
        }
      }
    }
    const result = { generation, pids, ms: Math.round(performance.now() - started) }
    this.#log.info({ generation, ms: result.ms, workers: result.pids.join(',') }, `generation ${generation} serves`)
    this.#lastRoll = { ok: true, generation, message: `generation ${generation} serves (${result.pids.join(', ')})`, at: Date.now() }
    this.#record({ ok: true, generation, ms: result.ms, message: this.#lastRoll.message, code: undefined, at: Date.now() })
    notify(`READY=1\nSTATUS=generation ${generation} serves (pids ${result.pids.join(', ')})`).catch(() => {})
    return result
  }

  #record (roll: RollRecord): void {
    this.#rolls.unshift(roll)
    this.#rolls.length = Math.min(this.#rolls.length, ROLLS_KEPT)
    this.events.emit('roll', roll)
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
    for (const worker of this.#alive.values()) {
      // A worker whose loop is stuck cannot drain: waiting for its drain timeout serves nobody.
      if (worker.replacing === 'unresponsive') this.#kill(worker, 'unresponsive at shutdown')
      else if (worker.state !== 'starting') this.#retire(worker)
    }
    this.#supervisor.stop()
    await this.#allGone()
    if (this.#unclean > 0) {
      this.#log.error({ count: this.#unclean }, `${this.#unclean === 1 ? 'a worker' : `${this.#unclean} workers`} did not drain cleanly at shutdown (see above): exit code 1`)
    }
    return this.#forced || this.#unclean > 0 ? 1 : 0
  }

  #allGone (): Promise<void> {
    if (this.#alive.size === 0 && this.#reaping.size === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const check = (): void => { if (this.#alive.size === 0 && this.#reaping.size === 0) resolve() }
      this.#gone.push(check)
    })
  }

  /** Every worker, with what each says it has in flight (asked over its link, briefly). */
  async status (): Promise<KeeperStatus> {
    const workers = [...this.#alive.values()]
    const now = performance.now()
    const answers = await Promise.all(workers.map((w) => this.#ask(w)))
    const liveness = this.#livenessTimeout()
    const waiting: SlotStatus[] = this.#slots.filter((s) => s.current === undefined).map((s) => ({
      slot: s.index,
      state: s.restart !== undefined ? 'backoff' : 'starting',
      nextTryIn: s.nextTry === undefined ? undefined : Math.max(0, Math.round(s.nextTry - now)),
      restarts: s.restarts,
      lastRestart: s.lastRestart
    }))
    return {
      pid: process.pid,
      uptime: Math.round(now - this.#started),
      generation: this.#generation,
      listening: this.#held.map((h) => h.label),
      workers: workers.map((w, i) => {
        const answer = answers[i]
        const slot = this.#slots[w.slot - 1] as Slot
        const cpu = this.#cpu(w, now)
        return {
          slot: w.slot,
          pid: w.pid,
          generation: w.generation,
          state: w.state,
          uptime: Math.round(now - w.started),
          requests: answer?.requests,
          connections: answer?.connections,
          rss: rssOf(w.pid),
          replacing: w.replacing,
          heap: answer?.heap,
          served: answer?.served,
          cpu: cpu?.seconds,
          cpuPercent: cpu?.percent,
          restarts: slot.restarts,
          lastRestart: slot.lastRestart
        }
      }).sort((a, b) => a.slot - b.slot || a.generation - b.generation),
      rolling: this.#roll !== undefined,
      restarts: this.#restarts,
      replaced: { ...this.#replaced },
      lastReplaced: this.#lastReplaced,
      liveness: Number.isFinite(liveness) ? liveness : null,
      maxMemory: this.#options.maxMemory ?? null,
      lastRoll: this.#lastRoll,
      rolls: [...this.#rolls],
      waiting
    }
  }

  // CPU seconds from /proc, and the share of one core since the previous look (since the start, the first time).
  #cpu (worker: Worker, now: number): { seconds: number, percent: number | undefined } | undefined {
    const seconds = cpuSecondsOf(worker.pid)
    if (seconds === undefined) return undefined
    const last = worker.cpu ?? { seconds: 0, at: worker.started, percent: undefined }
    // Looks closer together than this say more about the clock tick (10 ms) than about the worker.
    if (now - last.at < 250) return { seconds, percent: last.percent }
    const percent = Math.round((seconds - last.seconds) / ((now - last.at) / 1000) * 1000) / 10
    worker.cpu = { seconds, at: now, percent }
    return { seconds, percent }
  }

  #ask (worker: Worker): Promise<{ requests: number, connections: number, served: number | undefined, heap: number | undefined } | undefined> {
    const link = worker.link
    if (link === undefined || link.destroyed) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      const timer = later(500, () => { answer(undefined) })
      const answer = (line: string | undefined): void => {
        timer.cancel()
        const i = worker.answers.indexOf(answer)
        if (i !== -1) worker.answers.splice(i, 1)
        const m = line === undefined ? null : /requests=(\d+) connections=(\d+)/.exec(line)
        // served= and heap= come from a current @reload/core only.
        const number = (name: string): number | undefined => {
          const v = line === undefined ? undefined : new RegExp(`\\b${name}=(\\d+)`).exec(line)?.[1]
          return v === undefined ? undefined : Number(v)
        }
        resolve(m === null ? undefined : { requests: Number(m[1]), connections: Number(m[2]), served: number('served'), heap: number('heap') })
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
      // The keeper's log says what happens next: a roll or a restart.
      advice: '',
      command: { file, args, env: this.#env(), stdin: 'ignore' },
      onLine: (line) => { if (line === 'LIVENESS=1' && worker !== undefined) worker.answersPing = true },
      onSpawn: (pid, _attempt, process) => {
        let close = (): void => {}
        const closed = new Promise<void>((resolve) => { close = resolve })
        const w: Worker = {
          ...{ slot: slot.index, generation, pid, process, link: undefined, state: 'starting', started: performance.now() },
          ...{ ready: undefined, retiring: false, answers: [], closed, close },
          ...{ answersPing: false, lastPong: 0, ping: () => {}, replacing: undefined, holdUntil: 0, drained: undefined, killed: undefined },
          ...{ retired: undefined, cpu: undefined }
        }
        worker = w
        process.once('exit', close)
        this.#alive.set(pid, w)
        process.once('exit', () => {
          // Before the worker counts as gone: the keeper's exit waits for what is left of its session too.
          this.#endSession(w)
          this.#exited(pid)
        })
        this.#log.info({ worker: pid, generation }, `starting worker ${slot.index}`)
      }
    })
    const ready = worker as Worker
    ready.link = child.link
    ready.state = 'ready'
    ready.ready = ready.lastPong = performance.now()
    ready.ping = () => { if (ready.link !== undefined && !ready.link.destroyed) ready.link.write('PING\n', () => {}) }
    this.#watch(slot, ready)
    return ready
  }

  #exited (pid: number): void {
    this.#alive.delete(pid)
    this.#checkGone()
  }

  #checkGone (): void {
    if (this.#alive.size === 0 && this.#reaping.size === 0) for (const done of this.#gone.splice(0)) done()
  }

  /**
   * Ends what is left of an exited worker's session (the app's children and theirs): SIGTERM, then SIGKILL
   * after a grace. A helper meant to outlive its worker starts a session of its own (`detached: true`).
   */
  #endSession (worker: Worker): void {
    const sid = worker.pid
    const left = sessionMembers(sid)
    if (left.length === 0) return
    this.#reaping.add(sid)
    this.#log.warn({ worker: sid, pids: left.join(',') },
      `worker ${worker.slot} (pid ${sid}) left ${left.length === 1 ? 'a process' : `${left.length} processes`} of its own: SIGTERM now, SIGKILL in ${SESSION_GRACE} ms`)
    for (const pid of left) kill(pid, 'SIGTERM')
    const deadline = performance.now() + SESSION_GRACE
    const poll = (): void => {
      const still = sessionMembers(sid)
      if (still.length > 0 && performance.now() < deadline) { later(50, poll, { keepAlive: true }); return }
      if (still.length > 0) {
        this.#log.warn({ worker: sid, pids: still.join(',') }, `killing what is left of worker ${worker.slot}'s session (pid ${sid}) after ${SESSION_GRACE} ms`)
        for (const pid of still) kill(pid, 'SIGKILL')
      }
      this.#reaping.delete(sid)
      this.#checkGone()
    }
    later(50, poll, { keepAlive: true })
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
        if (line === 'PONG') worker.lastPong = performance.now()
        else if (line.startsWith('STATUS ')) worker.answers[0]?.(line)
        else if (line === 'STOPPING=1') this.#stoppingOnItsOwn(slot, worker)
        else if (line === 'ACCEPTING=0') worker.close()
        else if (line.startsWith('DRAINED ')) {
          const m = /requests=(\d+) connections=(\d+)/.exec(line)
          if (m !== null) worker.drained = { requests: Number(m[1]), connections: Number(m[2]) }
        }
      }
    })
    link?.on('error', () => {})
    worker.process.once('exit', (code, signal) => {
      for (const answer of [...worker.answers]) answer(undefined)
      link?.destroy()
      if (worker.retiring) {
        const end = ending(worker, code, signal)
        const ms = worker.retired === undefined ? 0 : Math.round(performance.now() - worker.retired)
        this.events.emit('drained', { slot: worker.slot, pid: worker.pid, ms, end: end.end, cut: worker.drained?.requests ?? 0 })
        if (this.#stopping !== undefined && !end.clean) this.#unclean++
        const text = `worker ${worker.slot} (pid ${worker.pid}, generation ${worker.generation}) ${end.text}`
        if (end.clean) this.#log.info({ worker: worker.pid, code: signal ?? code }, text)
        else this.#log.warn({ worker: worker.pid, code: signal ?? code }, text)
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
    worker.retired = performance.now()
    worker.state = 'draining'
    this.#log.warn({ worker: worker.pid }, `worker ${slot.index} (pid ${worker.pid}) is stopping on its own (a SIGTERM not from the keeper?): starting a replacement`)
    if (slot.current === worker) {
      slot.current = undefined
      this.#restart(slot, 0, { reason: 'stopped', detail: 'it stopped on its own (a SIGTERM not from the keeper?)', at: Date.now() })
    }
  }

  #crashed (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.current !== worker || this.#stopping !== undefined) return
    slot.current = undefined
    // Its replacement is already starting: it takes the slot once ready.
    if (worker.replacing !== undefined) {
      this.#log.warn({ worker: worker.pid }, `worker ${slot.index} (pid ${worker.pid}) exited with ${signal ?? `code ${code ?? '?'}`} while its replacement starts`)
      return
    }
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
    this.#restart(slot, wait, { reason: 'crash', detail: `exited with ${how} after ${after}`, at: Date.now() })
  }

  /** Starts the slot's worker again after `wait`; `cause` is why, when this is not another try of the same restart. */
  #restart (slot: Slot, wait: number, cause?: Restart): void {
    this.#supersede(slot)
    if (cause !== undefined) slot.lastRestart = cause
    slot.nextTry = performance.now() + wait
    slot.restart = later(wait, () => {
      slot.restart = undefined
      slot.nextTry = undefined
      const abort = new AbortController()
      slot.starting = abort
      this.#restarts++
      slot.restarts++
      const reason = slot.lastRestart?.reason
      this.events.emit('restart', { slot: slot.index, reason: reason === undefined || reason === 'roll' ? 'crash' : reason })
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
    slot.nextTry = undefined
    slot.starting = undefined
  }

  #retire (worker: Worker): void {
    if (worker.retiring && worker.state === 'draining') return
    worker.retired ??= performance.now()
    worker.retiring = true
    worker.state = 'draining'
    // Said on the link too: a worker whose app removed reload's SIGTERM listener still drains.
    if (worker.answersPing && worker.link !== undefined && !worker.link.destroyed) worker.link.write('DRAIN\n', () => {})
    kill(worker.pid, 'SIGTERM')
    const killAfter = this.#options.drainTimeout + KILL_MARGIN
    later(killAfter, () => {
      if (this.#alive.has(worker.pid)) {
        this.#log.warn({ worker: worker.pid }, `worker ${worker.slot} (pid ${worker.pid}) still runs ${killAfter} ms after SIGTERM: killing it`)
        this.#kill(worker, `after the drain timeout (${killAfter} ms after SIGTERM)`)
      }
    })
  }

  /** SIGKILL, for a worker that cannot drain; its exit is no crash, and its log line says `why`. */
  #kill (worker: Worker, why: string): void {
    worker.retired ??= performance.now()
    worker.retiring = true
    worker.state = 'draining'
    worker.killed ??= why
    kill(worker.pid, 'SIGKILL')
  }

  /**
   * Replaces a worker that still runs, the rolling way: its replacement starts on the same sockets and is
   * ready first, so there are never fewer ready workers than before. Then an unresponsive one is killed
   * (it cannot drain) and one over its memory cap drains.
   */
  #replace (worker: Worker, reason: ReplaceReason, why: string): void {
    const slot = this.#slots[worker.slot - 1] as Slot
    if (worker.replacing !== undefined || worker.retiring || this.#stopping !== undefined || slot.current !== worker) return
    worker.replacing = reason
    this.#replaced[reason]++
    this.#restarts++
    slot.restarts++
    slot.lastRestart = { reason, detail: why, at: Date.now() }
    this.events.emit('restart', { slot: slot.index, reason })
    const message = `worker ${slot.index} (pid ${worker.pid}) is ${reason === 'unresponsive' ? 'unresponsive' : 'over its memory cap'}: ${why}`
    this.#lastReplaced = { reason, slot: slot.index, pid: worker.pid, message, at: Date.now() }
    // A hang is an outage for what the worker holds; a memory recycle is what the operator asked for.
    const level = reason === 'unresponsive' ? 'error' : 'warn'
    this.#log[level]({ worker: worker.pid, reason }, `${message}; starting its replacement, then ${reason === 'unresponsive' ? 'killing it' : 'it drains'}`)
    this.#supersede(slot)
    const abort = new AbortController()
    slot.starting = abort
    this.#startWorker(slot, this.#generation).then((next) => {
      if (slot.starting !== abort || this.#stopping !== undefined) {
        this.#retire(next)
        return
      }
      slot.starting = undefined
      slot.current = next
      this.#log.info({ worker: next.pid, generation: next.generation }, `worker ${slot.index} serves again; pid ${worker.pid} ${reason === 'unresponsive' ? 'is killed' : 'drains'}`)
      if (!this.#alive.has(worker.pid)) return
      if (reason === 'unresponsive') this.#kill(worker, 'as unresponsive')
      else this.#retire(worker)
    }, (err: ReloadError) => {
      if (slot.starting !== abort || this.#stopping !== undefined) return
      slot.starting = undefined
      worker.replacing = undefined
      this.#log.error({ code: err.code }, `worker ${slot.index}'s replacement did not start (${err.message})`)
      if (slot.current !== worker) {
        // It died meanwhile: an empty slot starts again the crash way, with its backoff.
        slot.crashes++
        this.#restart(slot, backoff(slot.crashes))
      } else if (reason === 'unresponsive') {
        // It serves nobody: killed as a crash, so the slot starts again with the backoff.
        kill(worker.pid, 'SIGKILL')
      } else {
        worker.holdUntil = performance.now() + BACKOFF_CAP
      }
    })
  }
}

/** How a worker that was told to stop ended, in the log's words, and whether that was a clean drain. */
function ending (worker: Worker, code: number | null, signal: NodeJS.Signals | null): { text: string, clean: boolean, end: DrainEnd } {
  if (worker.killed !== undefined) return { text: `was killed ${worker.killed}`, clean: false, end: 'killed' }
  const cut = worker.drained?.requests ?? 0
  if (cut > 0) return { text: `cut ${cut} request${cut === 1 ? '' : 's'} at the drain timeout and exited`, clean: false, end: 'cut' }
  if (worker.drained !== undefined) {
    return code === 0 ? { text: 'drained and exited', clean: true, end: 'drained' } : { text: `drained and exited with code ${code ?? '?'}`, clean: false, end: 'exited' }
  }
  if (signal !== null || code !== 0) return { text: `exited with ${signal ?? `code ${code ?? '?'}`} before draining`, clean: false, end: 'exited' }
  // An app on an older @reload/core says nothing of its drain: exit code 0 is its word.
  return { text: 'exited with code 0', clean: true, end: 'drained' }
}

function mb (bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`
}

/** 0 for the first exit, then 250 ms doubling up to 10 s. */
export function backoff (crashes: number): number {
  if (crashes <= 1) return 0
  return Math.min(BACKOFF_FIRST * 2 ** (crashes - 2), BACKOFF_CAP)
}

function kill (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch {}
}
