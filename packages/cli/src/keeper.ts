import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { decodeChild, later, LineReader, ReloadError, spawnWorker, startCwd, type Logger } from '@reload/core/keeper'
import { CliError } from './errors.js'
import type { RunOptions } from './args.js'
import type { KeeperEvents, KeeperStatus, Replacement, RollRecord, RollResult, SlotStatus } from './keeper-status.js'
import type { Held } from './listen.js'
import { notify } from './notify.js'
import { workerEnv } from './preload.js'
import { Sessions } from './sessions.js'
import { afterExit, backoff, BACKOFF_CAP, newSlots, type Slot } from './slots.js'
import { cpuSecondsOf, rssOf, Supervisor } from './supervise.js'
import { askStatus, ending, isStopping, moveTo, newWorker, tell, type DrainCause, type ReplaceReason, type Restart, type Worker } from './worker.js'

export type { KeeperEvents, KeeperStatus, RollRecord, RollResult, SlotStatus, WorkerStatus } from './keeper-status.js'

// Past its own drainTimeout, a worker is killed: its own timer should have ended it already.
const KILL_MARGIN = 5000
// How long a roll waits for a drained worker to say it stopped accepting. A current worker says it in the
// same turn as the drain starts: one that has not by then is killed before the roll is done. An app on an
// older @reload/core may never say it, and is let be.
const CLOSE_WAIT = 2000
// How many finished rolls `reload status` lists.
const ROLLS_KEPT = 5

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
  /** What is left of exited workers' sessions, being ended. */
  readonly #sessions: Sessions
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
    this.#slots = newSlots(options.workers)
    this.#sessions = new Sessions(log)
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
      for (const slot of this.#slots) if (slot.current !== undefined) this.#retire(slot.current, 'shutdown')
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
    if (this.#stopping !== undefined) return Promise.reject(new CliError('ERR_RELOAD_DRAINING', 'the keeper is shutting down: nothing to reload'))
    if (this.#starting) return Promise.reject(new CliError('ERR_RELOAD_NOT_READY', 'the first workers are still starting: reload once they are ready'))
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
      if (this.#stopping !== undefined) throw new CliError('ERR_RELOAD_ABORTED', 'roll abandoned: the keeper is shutting down')
      let next: Worker
      try {
        next = await this.#startWorker(slot, generation)
      } catch (err) {
        const cause = err as ReloadError
        if (this.#stopping !== undefined) throw new CliError('ERR_RELOAD_ABORTED', 'roll abandoned: the keeper is shutting down', { cause })
        const error = new CliError('ERR_RELOAD_ROLL_FAILED',
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
        this.#retire(old, 'roll')
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
      else if (worker.state !== 'starting') this.#retire(worker, 'shutdown')
    }
    this.#supervisor.stop()
    await this.#allGone()
    if (this.#unclean > 0) {
      this.#log.error({ count: this.#unclean }, `${this.#unclean === 1 ? 'a worker' : `${this.#unclean} workers`} did not drain cleanly at shutdown (see above): exit code 1`)
    }
    return this.#forced || this.#unclean > 0 ? 1 : 0
  }

  // Every worker gone, and what was left of their sessions too.
  #allGone (): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => { if (this.#alive.size === 0) this.#sessions.whenIdle(resolve) }
      if (this.#alive.size === 0) check()
      else this.#gone.push(check)
    })
  }

  /** Every worker, with what each says it has in flight (asked over its link, briefly). */
  async status (): Promise<KeeperStatus> {
    const workers = [...this.#alive.values()]
    const now = performance.now()
    const answers = await Promise.all(workers.map(async (w) => await askStatus(w)))
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

  #pids (): number[] {
    return this.#slots.map((s) => s.current?.pid).filter((pid): pid is number => pid !== undefined)
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
      command: { file, args, env: workerEnv(this.#options, this.#cwd), stdin: 'ignore' },
      onMessage: (message) => { if (message.type === 'liveness' && worker !== undefined) worker.answersPing = true },
      onSpawn: (pid, _attempt, process) => {
        const w = newWorker({ slot: slot.index, generation, pid, process, started: performance.now() })
        worker = w
        process.once('exit', w.close)
        this.#alive.set(pid, w)
        process.once('exit', () => {
          moveTo(w, 'exited')
          // Before the worker counts as gone: the keeper's exit waits for what is left of its session too.
          this.#sessions.end(pid, `worker ${w.slot}`)
          this.#exited(pid)
        })
        this.#log.info({ worker: pid, generation }, `starting worker ${slot.index}`)
      }
    })
    const ready = worker as Worker
    ready.link = child.link
    moveTo(ready, 'ready')
    ready.ready = ready.lastPong = performance.now()
    ready.ping = () => { tell(ready, { type: 'ping' }) }
    this.#watch(slot, ready)
    return ready
  }

  #exited (pid: number): void {
    this.#alive.delete(pid)
    if (this.#alive.size === 0) for (const done of this.#gone.splice(0)) done()
  }

  #watch (slot: Slot, worker: Worker): void {
    const link = worker.link
    const lines = new LineReader((line) => {
      const message = decodeChild(line)
      switch (message?.type) {
        case 'pong': worker.lastPong = performance.now(); break
        case 'status': worker.answers[0]?.(message); break
        case 'stopping': this.#stoppingOnItsOwn(slot, worker); break
        case 'notAccepting': worker.close(); break
        case 'drained': worker.drained = { requests: message.requests, connections: message.connections }; break
      }
    })
    link?.on('data', (chunk: string | Buffer) => { lines.push(chunk) })
    link?.on('error', () => {})
    worker.process.once('exit', (code, signal) => {
      for (const answer of [...worker.answers]) answer(undefined)
      link?.destroy()
      if (isStopping(worker)) {
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
    if (isStopping(worker) || this.#stopping !== undefined) return
    worker.retired = performance.now()
    moveTo(worker, 'draining', 'stopped')
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
    const { crashes, wait } = afterExit(slot.crashes, lived)
    slot.crashes = crashes
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
          this.#retire(worker, this.#stopping !== undefined ? 'shutdown' : 'replaced')
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

  #retire (worker: Worker, cause: DrainCause): void {
    if (worker.state === 'draining' || worker.state === 'exited') return
    worker.retired ??= performance.now()
    moveTo(worker, 'draining', cause)
    // Said on the link too: a worker whose app removed reload's SIGTERM listener still drains.
    if (worker.answersPing) tell(worker, { type: 'drain' })
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
    moveTo(worker, 'draining', 'killed')
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
    if (worker.replacing !== undefined || isStopping(worker) || this.#stopping !== undefined || slot.current !== worker) return
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
        this.#retire(next, this.#stopping !== undefined ? 'shutdown' : 'replaced')
        return
      }
      slot.starting = undefined
      slot.current = next
      this.#log.info({ worker: next.pid, generation: next.generation }, `worker ${slot.index} serves again; pid ${worker.pid} ${reason === 'unresponsive' ? 'is killed' : 'drains'}`)
      if (!this.#alive.has(worker.pid)) return
      if (reason === 'unresponsive') this.#kill(worker, 'as unresponsive')
      else this.#retire(worker, 'replaced')
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

function mb (bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`
}

function kill (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch {}
}
