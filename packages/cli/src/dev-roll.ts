import { statSync } from 'node:fs'
import { basename } from 'node:path'
import { performance } from 'node:perf_hooks'
import { debuglog } from 'node:util'
import { later, type Later, type ReloadError } from '@reload/core/keeper'
import type { Spare } from './dev-spare.js'
import type { Keeper, RollResult } from './keeper.js'
import { KILL_MARGIN } from './spawn.js'
import { signalPid } from './worker.js'

// NODE_DEBUG=reload: when each worker of the next roll starts, says it waits, and hears the save.
const debug = debuglog('reload')

// The first tens of ms after a roll are the handover's: the old worker's connections come over to the new
// one. The next worker's boot (about 150 ms of CPU) waits that long, not to take a core from them (measured on
// 2 cores: saves served 11% sooner, 95% interval 1% to 23%).
const ARM_AFTER = 250

// A file's time comes from the kernel's coarse clock, up to a tick (10 ms at HZ=100) behind Date.now().
const CLOCK_TICK = 20

/** What `reload dev` says of its starts and rolls. */
export interface DevSay {
  /** A save came: a worker loads the new code now, or once the one starting is ready. */
  rolling: (why: string) => void
  /** The new code serves, `ms` after the save's first change (or the start). */
  ready: (ms: number, pids: number[]) => void
  /** The first start (`first`) or a roll failed; `serving` says whether older code still serves. */
  failed: (message: string, first: boolean, serving: boolean) => void
}

/** A save: what changed, when its first change came (performance.now()), and whether it needs a worker started after it. */
export interface Save { why: string, since: number, fresh: boolean }

/** The worker of the next roll, started before the save and held in dev-preload.ts until it. */
interface Next {
  generation: number
  /** When it was started (Date.now()). */
  startedAt: number
  spare: Spare | undefined
  /** The save that let it go. */
  save: Save | undefined
  /** Whether its spare heard the save (false: it was gone before). */
  heard: boolean | undefined
  /** A save it cannot serve (it read what changed as it booted): it is let go, and the save goes to a new one. */
  dismissed: Save | undefined
  retried: boolean
  /** A later save came while it started: it is stopped, and that save rolls once its roll is over. */
  abandoned: boolean
  deadline: Later | undefined
  /** It was stopped for not being ready within the ready timeout after the save. */
  late: boolean
}

/**
 * Whether a worker waiting for the save loads `path` only after it: the app's code, not a loader's or a
 * tool's configuration (tsconfig.json, babel.config.js, .env), which a preload may have read as it booted.
 */
export function loadsAfterSave (path: string): boolean {
  const name = basename(path)
  return /\.[cm]?[jt]sx?$/.test(name) && !name.startsWith('.') && !/\.config\.[cm]?[jt]sx?$/.test(name)
}

/**
 * `reload dev`'s starts and rolls, one at a time. Once a worker is ready (and the connections have come over
 * to it), the next one starts (a roll of the keeper's that takes its time), boots Node and its preloads, and
 * waits in dev-preload.ts; the save lets it load the app, so a save costs the app's own start rather than
 * Node's. A save while a worker starts (it may have read the files already) stops that start, and rolls once
 * it is over. A save of what a waiting worker may have read as it booted, `rs` and a signal go to a worker
 * started after them. The keeper's ready timeout is off for this (the next worker waits for as long as the
 * developer types): the ready timeout here counts from the save.
 */
export class DevRolls {
  readonly #keeper: Keeper
  readonly #readyTimeout: number
  readonly #killAfter: number
  readonly #say: DevSay
  #starting = true
  /** A save came during the first start, which is stopped. */
  #startAbandoned = false
  /** A worker said it waits in dev-preload.ts: the command's Node loads it, so the next worker can start early. */
  #waits = false
  #next: Next | undefined
  /** The next worker's start, due once the last roll's handover is over. */
  #arming: Later | undefined
  /** A save during a start or a roll, for one more roll after it: the first such save's time and words. */
  #again: Save | undefined

  constructor (keeper: Keeper, options: { readyTimeout: number, drainTimeout: number }, say: DevSay) {
    this.#keeper = keeper
    this.#readyTimeout = options.readyTimeout
    this.#killAfter = options.drainTimeout + KILL_MARGIN
    this.#say = say
  }

  /** The first worker: resolves once it serves or failed (said either way). */
  async start (): Promise<void> {
    const since = performance.now()
    let late = false
    const deadline = later(this.#readyTimeout, () => { this.#stop(1, undefined, () => { late = true }).catch(() => {}) })
    try {
      await this.#keeper.start()
      this.#say.ready(performance.now() - since, this.#keeper.pids)
    } catch (err) {
      if (this.#keeper.isStopping) return
      if (!this.#startAbandoned) this.#say.failed(late ? this.#lateText(1, undefined) : (err as Error).message, true, false)
    } finally {
      this.#starting = false
      deadline.cancel()
    }
    this.#then()
  }

  /** A save (or `rs`, or SIGHUP): the new code serves next. */
  save (why: string, { since = performance.now(), fresh = false }: { since?: number, fresh?: boolean } = {}): void {
    if (this.#keeper.isStopping) return
    this.#say.rolling(why)
    const next = this.#next
    if (this.#starting || next?.save !== undefined || next?.dismissed !== undefined) {
      this.#again = this.#again === undefined ? { why, since, fresh } : { ...this.#again, fresh: this.#again.fresh || fresh }
      // The worker starting now has older code, or a file read half written (which may never listen): it is
      // stopped rather than waited for, as nodemon would, and this save rolls once it is gone.
      if (this.#starting && !this.#startAbandoned) {
        this.#startAbandoned = true
        this.#stop(1, undefined, () => {}).catch(() => {})
      } else if (next?.save !== undefined && !next.abandoned) {
        next.abandoned = true
        next.deadline?.cancel()
        this.#stop(next.generation, next.spare?.pid, () => {}).catch(() => {})
      }
      return
    }
    this.#roll({ why, since, fresh })
  }

  /** A worker says it waits in dev-preload.ts. */
  spare (spare: Spare): void {
    this.#waits = true
    const next = this.#next
    debug('dev: pid %d (generation %d) waits, %d ms after the next worker started', spare.pid, spare.generation, next === undefined ? -1 : Date.now() - next.startedAt)
    if (next !== undefined && next.spare === undefined && spare.generation === next.generation) {
      next.spare = spare
      // A save that came while it booted: it may have read what the save changed.
      if (next.save !== undefined && next.dismissed === undefined && this.#isStale(next)) {
        next.dismissed = next.save
        next.save = undefined
        next.deadline?.cancel()
      }
      if (next.dismissed !== undefined) spare.dismiss()
      else if (next.save !== undefined) next.heard = spare.go()
      return
    }
    // The first worker, or one the keeper starts again after a crash: at once.
    spare.go()
    if (!this.#starting) {
      later(this.#readyTimeout, () => {
        this.#stop(spare.generation, spare.pid, () => { this.#say.failed(this.#lateText(spare.generation, spare.pid), false, this.#keeper.pids.length > 0) }).catch(() => {})
      })
    }
  }

  // The next worker (started now if there is none) loads the code as it is now.
  #roll (save: Save, retried = false): void {
    this.#arming?.cancel()
    this.#arming = undefined
    const waiting = this.#next
    if (waiting !== undefined && (save.fresh || this.#isStale(waiting))) {
      // Let go, its roll fails, and the save goes to a worker started then (see #settled). One that has not
      // said it waits yet is let go when it does.
      waiting.dismissed = save
      waiting.spare?.dismiss()
      debug('dev: save %s needs a worker started after it; the one waiting is let go', save.why)
      return
    }
    const next = waiting ?? this.#arm()
    next.save = save
    next.retried = retried
    if (next.spare !== undefined) next.heard = next.spare.go()
    debug('dev: save %s, %d ms after its first change: %s', save.why, Math.round(performance.now() - save.since), next.spare === undefined ? 'the next worker is not waiting yet' : `pid ${next.spare.pid} goes`)
    next.deadline = later(this.#readyTimeout, () => {
      this.#stop(next.generation, next.spare?.pid, () => { next.late = true }).catch(() => {})
    })
  }

  // Whether a file the waiting worker read as it booted has changed since it started (or a clock tick before:
  // such a change may have come after it read the file).
  #isStale (next: Next): boolean {
    return next.spare?.files.some((file) => {
      try { return statSync(file).mtimeMs >= next.startedAt - CLOCK_TICK } catch { return false }
    }) ?? false
  }

  // The next worker starts now, and waits for the save (or goes at once, if its command does not wait).
  #arm (): Next {
    const startedAt = Date.now()
    const roll = this.#keeper.reload()
    const next: Next = { generation: this.#keeper.generation, startedAt, spare: undefined, save: undefined, heard: undefined, dismissed: undefined, retried: false, abandoned: false, deadline: undefined, late: false }
    this.#next = next
    roll.then((result) => { this.#settled(next, result, undefined) }, (err: ReloadError) => { this.#settled(next, undefined, err) })
    return next
  }

  #settled (next: Next, result: RollResult | undefined, err: ReloadError | undefined): void {
    if (this.#next === next) this.#next = undefined
    next.deadline?.cancel()
    if (this.#keeper.isStopping) return
    if (next.dismissed !== undefined) {
      // A save that came meanwhile is newer still; the time counts from the first.
      const save = this.#again ?? next.dismissed
      this.#again = undefined
      this.#roll({ ...save, since: next.dismissed.since, fresh: false })
      return
    }
    if (next.save === undefined) {
      // Ready without a save: its command does not load dev-preload.ts (not Node, or a wrapper that drops
      // NODE_OPTIONS), so nothing can wait; the code is the same. Dead before a save (killed, a preload that
      // throws): the next save starts one, rather than a loop of them now.
      if (result !== undefined) this.#waits = false
      return
    }
    if (result === undefined && next.heard === false && !next.retried) {
      // It died waiting, just before the save came: the save, once more, to a worker started now.
      this.#roll(next.save, true)
      return
    }
    // The save after it serves what this one did too: its time counts from this one's.
    if (next.abandoned && this.#again !== undefined) this.#again.since = Math.min(this.#again.since, next.save.since)
    if (result !== undefined) {
      this.#say.ready(performance.now() - next.save.since, result.pids)
    } else if (!next.abandoned) {
      const message = next.late ? this.#lateText(next.generation, next.spare?.pid) : ((err?.cause as Error | undefined)?.message ?? err?.message ?? 'failed')
      this.#say.failed(message, false, this.#keeper.pids.length > 0)
    }
    this.#then()
  }

  // After a start or a roll: the save that came meanwhile, else the next worker, to wait for the save.
  #then (): void {
    const again = this.#again
    this.#again = undefined
    if (again !== undefined) this.#roll(again)
    else if (this.#waits && !this.#keeper.isStopping) {
      this.#arming = later(ARM_AFTER, () => {
        this.#arming = undefined
        if (this.#next === undefined && !this.#keeper.isStopping) this.#arm()
      })
    }
  }

  // A worker still starting `readyTimeout` after it was let go: stopped as the keeper stops one (SIGTERM, and
  // SIGKILL after its drain budget), which fails its start. By pid, or by generation for one that never said
  // it waits.
  async #stop (generation: number, pid: number | undefined, late: () => void): Promise<void> {
    const { workers } = await this.#keeper.status().catch(() => ({ workers: [] }))
    for (const w of workers) {
      if (w.state !== 'starting' || (pid === undefined ? w.generation !== generation : w.pid !== pid)) continue
      late()
      signalPid(w.pid, 'SIGTERM')
      later(this.#killAfter, () => {
        // Only a pid that is still this keeper's worker: a pid is reused once its process is gone.
        this.#keeper.status().then(({ workers }) => { if (workers.some((x) => x.pid === w.pid)) signalPid(w.pid, 'SIGKILL') }, () => {})
      })
    }
  }

  #lateText (generation: number, pid: number | undefined): string {
    return `worker 1 (generation ${generation})${pid === undefined ? '' : ` (pid ${pid})`} was not ready within --ready-timeout (${this.#readyTimeout} ms); ` +
      'it must listen (or call ready()) in time: raise --ready-timeout or find what blocks its start-up'
  }
}
