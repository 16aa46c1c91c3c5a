import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { decodeChild, LineReader, spawnWorker, type ChildMessage, type HeldChild, type Logger, type SpawnOptions } from '@reload/core/keeper'
import type { RunOptions } from './args.js'
import type { Held } from './listen.js'
import { balances } from './balance.js'
import { workerEnv } from './preload.js'
import { newWorker, type Worker } from './worker.js'

// Past its own drainTimeout, a worker is killed: its own timer should have ended it already.
export const KILL_MARGIN = 5000

/** What the Keeper does as a worker comes, speaks and goes: the only places its record changes. */
export interface SpawnHooks {
  /** Its process exists; it is not ready yet. */
  spawned: (worker: Worker) => void
  /** It said `READY=1`; `link` is how it is told and asked from now on. */
  ready: (worker: Worker, link: Socket | undefined) => void
  /** It said something: `LIVENESS=1`, `HOLDS=1` or `HANDOFF=` while it starts, anything else on its link once ready. */
  heard: (worker: Worker, message: ChildMessage) => void
  /** Its process exited, once it was ready (before, its start rejects). */
  exited: (worker: Worker, code: number | null, signal: NodeJS.Signals | null) => void
}

/** What every worker of a keeper is started with. */
export interface SpawnContext {
  options: RunOptions
  held: readonly Held[]
  /** The folder the keeper was started in, as the user named it. */
  cwd: string
  /** Aborted at shutdown: a worker still starting is stopped. */
  stop: AbortSignal
  log: Logger
}

// LIVENESS=1, HOLDS=1 and HANDOFF= come before READY=1, and are heard then: once ready, they say nothing new.
function saidAtStart (message: ChildMessage): boolean {
  return message.type === 'liveness' || message.type === 'handoff' || message.type === 'holds'
}

/** How every worker of generation `generation` is started; `what` names it in messages. */
export function spawnOptions (c: SpawnContext, generation: number, what: string): SpawnOptions {
  const [file, ...args] = c.options.command as [string, ...string[]]
  return {
    fds: c.held.map((h) => h.fd),
    names: c.held.map((h) => h.name),
    generation,
    readyTimeout: c.options.readyTimeout,
    killAfter: c.options.drainTimeout + KILL_MARGIN,
    // A `current` symlink that a deploy moves: each worker starts in what it points to now.
    cwd: c.cwd,
    signal: c.stop,
    what,
    // The keeper's log says what happens next: a roll or a restart.
    advice: '',
    command: { file, args, env: workerEnv(c.options, c.cwd), stdin: 'ignore' },
    handoff: balances(c.options.workers)
  }
}

/**
 * Starts a worker for slot `slot` on the held sockets (fds 3.., and the link after them), or lets `spare`
 * run the app as it, and resolves once it is ready; rejects with the coded reason otherwise.
 */
export async function spawn (c: SpawnContext, slot: number, generation: number, hooks: SpawnHooks, spare?: HeldChild): Promise<Worker> {
  let worker: Worker | undefined
  const what = `worker ${slot} (generation ${generation})`
  const onMessage = (message: ChildMessage): void => { if (saidAtStart(message) && worker !== undefined) hooks.heard(worker, message) }
  const onSpawn = (pid: number, _attempt: number, process: ChildProcess): void => {
    const w = newWorker({ slot, generation, pid, process, started: performance.now() })
    worker = w
    process.once('exit', w.close)
    hooks.spawned(w)
    if (spare !== undefined) c.log.info({ spare: pid }, `worker ${slot} starts from the spare (pid ${pid})`)
    c.log.info({ worker: pid, generation }, `starting worker ${slot}`)
  }
  const child = spare === undefined
    ? await spawnWorker({ ...spawnOptions(c, generation, what), onMessage, onSpawn })
    : await spare.go({ what, onMessage, onSpawn })
  const ready = worker as Worker
  hooks.ready(ready, child.link)
  const link = child.link
  const lines = new LineReader((line) => {
    const message = decodeChild(line)
    if (message !== undefined && !saidAtStart(message)) hooks.heard(ready, message)
  })
  link?.on('data', (chunk: string | Buffer) => { lines.push(chunk) })
  link?.on('error', () => {})
  ready.process.once('exit', (code, signal) => {
    for (const answer of [...ready.answers]) answer(undefined)
    link?.destroy()
    hooks.exited(ready, code, signal)
  })
  return ready
}
