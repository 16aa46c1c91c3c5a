import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { later, startCwd, type Logger } from '@reload/core/keeper'
import { CliError } from './errors.js'
import type { RunOptions } from './args.js'
import { Balancer, balances } from './balance.js'
import { crashed, drainEnded, stoppedOnItsOwn } from './exits.js'
import type { Inside } from './inside.js'
import type { KeeperEvents, KeeperStatus, Replacement, RollRecord, RollResult } from './keeper-status.js'
import type { Held } from './listen.js'
import { notify } from './notify.js'
import { livenessOf, supervise } from './replace.js'
import { rollOnce, startAll } from './roll.js'
import { Sessions } from './sessions.js'
import { drainAll, forced, type Stopping } from './shutdown.js'
import { counted, newSlots, restartAfter, rollInto, serve, started, startFor, supersede, vacate, type Slot } from './slots.js'
import { CpuMeter, snapshot } from './snapshot.js'
import { KILL_MARGIN, spawn, type SpawnContext, type SpawnHooks } from './spawn.js'
import { Standby } from './standby.js'
import type { Supervisor } from './supervise.js'
import { isStopping, moveTo, signalPid, tell, type DrainCause, type ReplaceReason, type Worker } from './worker.js'

export type { KeeperEvents, KeeperStatus, RollRecord, RollResult, SlotStatus, WorkerStatus } from './keeper-status.js'

// How many finished rolls `reload status` lists.
const ROLLS_KEPT = 5
// How long after a worker is ready the spare may start: the first requests of a new worker come first.
const SPARE_WAIT = 300
// How long an exit waits for STOPPING=1 to reach systemd.
const STOPPING_WAIT = 2000

/**
 * `reload run`: holds the listeners for its whole life and keeps N workers serving on them. Rolls them
 * over one at a time on SIGHUP (a replacement is ready before the worker it replaces drains), starts a
 * crashed one again (connections wait in the kernel's backlog meanwhile), and drains them all on SIGTERM.
 * The one owner of its slots' and workers' state: its parts (roll.ts, replace.ts, exits.ts, shutdown.ts,
 * snapshot.ts) read that state and change it only through the functions it lends them ({@link Inside}).
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
  #stopping: Promise<number> | undefined
  #forced = false
  /** Workers that ended a shutdown otherwise than drained: cut, killed, or exited before draining. */
  #unclean = 0
  readonly #replaced: Record<ReplaceReason, number> = { unresponsive: 0, memory: 0 }
  #lastReplaced: Replacement | undefined
  /** The last finished rolls, newest first. */
  readonly #rolls: RollRecord[] = []
  /** What is left of exited workers' sessions, being ended. */
  readonly #sessions: Sessions
  readonly #cpu = new CpuMeter()
  /** Rolls, restarts and drains as they happen. */
  readonly events = new EventEmitter<KeeperEvents>()
  /** Ends the shutdown delay early (a second signal). */
  #endDelay = (): void => {}
  readonly #gone: Array<() => void> = []
  readonly #inside: Inside
  readonly #hooks: SpawnHooks
  readonly #supervisor: Supervisor<Readonly<Worker>>
  readonly #stops: Stopping
  /** Hands connections to the workers, with more than one. */
  readonly #balancer: Balancer | undefined
  readonly #context: SpawnContext
  /** A worker booted ahead of need, for restarts. */
  readonly #standby: Standby

  constructor (options: RunOptions, held: Held[], log: Logger) {
    this.#options = options
    this.#held = held
    this.#log = log
    this.#slots = newSlots(options.workers)
    this.#balancer = balances(options.workers) ? new Balancer(held, log) : undefined
    this.#sessions = new Sessions(log)
    this.#context = { options, held, cwd: this.#cwd, stop: this.#stop.signal, log }
    this.#standby = new Standby(this.#context, options.spare && options.preload)
    this.#inside = this.#lend()
    this.#hooks = this.#spawnHooks()
    this.#supervisor = supervise(this.#inside)
    this.#stops = this.#stopHooks()
  }

  get generation (): number { return this.#generation }
  /** The pids of the workers that serve. */
  get pids (): number[] { return this.#slots.map((s) => s.current?.pid).filter((pid): pid is number => pid !== undefined) }
  get isStopping (): boolean { return this.#stopping !== undefined }

  /** Starts every worker; resolves once all are ready, rejects (having stopped them) when one fails. */
  async start (): Promise<void> {
    const began = performance.now()
    try {
      await startAll(this.#inside)
    } finally {
      this.#starting = false
    }
    this.#supervisor.start()
    this.#spareSoon()
    if (livenessOf(this.#options) !== this.#options.livenessTimeout) {
      this.#log.warn({}, 'liveness is off: the workers run with --inspect, and a debugger paused at a breakpoint would look like a hang')
    }
    this.#log.info({ ms: Math.round(performance.now() - began), workers: this.pids.join(',') },
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
      this.#roll = rollOnce(this.#inside, ++this.#generation).finally(() => {
        this.#roll = undefined
        this.#spareSoon()
      })
      return this.#roll
    }
    this.#queued ??= this.#roll.catch(() => {}).then(() => {
      this.#queued = undefined
      return this.reload()
    })
    return this.#queued
  }

  /** Every worker, with what each says it has in flight (asked over its link, briefly). */
  async status (): Promise<KeeperStatus> { return await snapshot(this.#inside, this.#cpu) }

  /** Drains every worker and resolves with the keeper's exit code once the last one is gone; a second call forces. */
  shutdown (signal: string): Promise<number> {
    if (this.#stopping !== undefined) {
      if (!this.#forced) {
        this.#forced = true
        forced(this.#inside, this.#endDelay, signal)
      }
      return this.#stopping
    }
    // Queued behind any message still on its way (a roll's READY=1): a drain that ends first must not exit
    // before it is sent, or systemd never hears it (seen in CI). A stuck systemd-notify holds the exit 2 s at most.
    const told = notify('STOPPING=1')
    this.#stop.abort(`shutting down on ${signal}`)
    this.#standby.dismiss()
    for (const slot of this.#slots) supersede(slot)
    this.#stopping = drainAll(this.#inside, this.#stops, signal).then(async (code) => {
      await Promise.race([told, new Promise((resolve) => { setTimeout(resolve, STOPPING_WAIT).unref() })])
      return code
    })
    return this.#stopping
  }

  /** What the parts see of the keeper, and the only ways they change it. */
  #lend (): Inside {
    return {
      ...{ options: this.#options, log: this.#log, held: this.#held, events: this.events, slots: this.#slots, alive: this.#alive },
      generation: () => this.#generation,
      isStopping: () => this.#stopping !== undefined,
      handed: (pid) => this.#balancer?.handedTo(pid),
      tally: () => ({ started: this.#started, rolling: this.#roll !== undefined, restarts: this.#restarts, replaced: this.#replaced, lastReplaced: this.#lastReplaced, rolls: this.#rolls, spare: this.#standby.status }),
      startWorker: async (slot, generation) => await spawn(this.#context, slot.index, generation, this.#hooks, this.#standby.take(generation)),
      retire: (worker: Worker, cause) => { this.#retire(worker, cause) },
      kill: (worker: Worker, why) => { this.#kill(worker, why) },
      // The slot's transitions, lent as they are.
      ...{ rolled: rollInto, serve, vacate, startFor, started, restartAfter },
      countRestart: (slot: Slot, cause) => {
        this.#restarts++
        counted(slot, cause)
        const reason = slot.lastRestart?.reason
        this.events.emit('restart', { slot: slot.index, reason: reason === undefined || reason === 'roll' ? 'crash' : reason })
      },
      replacing: (worker: Worker, replacement) => {
        worker.replacing = replacement.reason
        this.#replaced[replacement.reason]++
        this.#lastReplaced = replacement
      },
      replaceFailed: (worker: Worker, holdUntil) => {
        worker.replacing = undefined
        if (holdUntil !== undefined) worker.holdUntil = holdUntil
      },
      recordRoll: (roll) => {
        this.#rolls.unshift(roll)
        this.#rolls.length = Math.min(this.#rolls.length, ROLLS_KEPT)
        this.events.emit('roll', roll)
      }
    }
  }

  /** A worker's record as it comes, speaks and goes. */
  #spawnHooks (): SpawnHooks {
    return {
      spawned: (worker) => {
        this.#alive.set(worker.pid, worker)
        worker.process.once('exit', () => {
          moveTo(worker, 'exited')
          // Before the worker counts as gone: the keeper's exit waits for what is left of its session too.
          this.#sessions.end(worker.pid, `worker ${worker.slot}`)
          this.#alive.delete(worker.pid)
          if (this.#alive.size === 0) for (const done of this.#gone.splice(0)) done()
        })
      },
      ready: (worker, link) => {
        worker.link = link
        moveTo(worker, 'ready')
        this.#balancer?.serve(worker, worker.handoff)
        // Being ready counts as an answer.
        worker.lastPong = worker.ready as number
        this.#spareSoon()
      },
      // LIVENESS=1 while it starts, then what it says on its link.
      heard: (worker, message) => {
        switch (message.type) {
          case 'liveness': worker.answersPing = true; break
          case 'holds': this.#standby.holds(worker.generation); break
          case 'handoff': worker.handoff = message.listeners; break
          case 'pong': worker.lastPong = performance.now(); break
          case 'status': worker.answers[0]?.(message); break
          case 'stopping': this.#balancer?.retire(worker.pid); stoppedOnItsOwn(this.#inside, this.#slots[worker.slot - 1] as Slot, worker); break
          case 'notAccepting': worker.close(); break
          case 'drained': worker.drained = { requests: message.requests, connections: message.connections }; break
        }
      },
      exited: (worker, code, signal) => {
        if (!isStopping(worker)) crashed(this.#inside, this.#slots[worker.slot - 1] as Slot, worker, code, signal)
        else if (!drainEnded(this.#inside, worker, code, signal) && this.#stopping !== undefined) this.#unclean++
      }
    }
  }

  /** What the shutdown asks of the keeper. */
  #stopHooks (): Stopping {
    return {
      forced: () => this.#forced,
      onForce: (end) => { this.#endDelay = end },
      unwatch: () => { this.#supervisor.stop() },
      allGone: async () => {
        await new Promise<void>((resolve) => {
          const check = (): void => { if (this.#alive.size === 0) this.#sessions.whenIdle(resolve) }
          if (this.#alive.size === 0) check()
          else this.#gone.push(check)
        })
        await this.#standby.gone()
      },
      unclean: () => this.#unclean
    }
  }

  // The spare is started once every worker is ready and nothing rolls: never beside a start it would slow.
  #spareSoon (): void {
    later(SPARE_WAIT, () => {
      if (this.#starting || this.#roll !== undefined || this.#stopping !== undefined) return
      if ([...this.#alive.values()].some((w) => w.state === 'starting')) return
      this.#standby.want(this.#generation)
    })
  }

  // Drain, with a kill after the drain timeout. Said on the link, not by SIGTERM, which an app's own listener (a
  // framework's shutdown) turns into an exit mid-drain; core runs it after. An older core gets SIGTERM.
  #retire (worker: Worker, cause: DrainCause): void {
    if (worker.state === 'draining' || worker.state === 'exited') return
    moveTo(worker, 'draining', cause)
    this.#balancer?.retire(worker.pid)
    if (!(worker.answersPing && tell(worker, { type: 'drain' }))) signalPid(worker.pid, 'SIGTERM')
    const killAfter = this.#options.drainTimeout + KILL_MARGIN
    later(killAfter, () => {
      if (this.#alive.has(worker.pid)) {
        this.#log.warn({ worker: worker.pid }, `worker ${worker.slot} (pid ${worker.pid}) still runs ${killAfter} ms after it was told to drain: killing it`)
        this.#kill(worker, `after the drain timeout (${killAfter} ms after it was told to drain)`)
      }
    })
  }

  /** SIGKILL, for a worker that cannot drain; its exit is no crash, and its log line says `why`. */
  #kill (worker: Worker, why: string): void {
    moveTo(worker, 'draining', 'killed')
    this.#balancer?.retire(worker.pid)
    worker.killed ??= why
    signalPid(worker.pid, 'SIGKILL')
  }
}
