import type { ChildProcess } from 'node:child_process'
import { childProcess } from '../node/lazy.js'
import type { Socket } from 'node:net'
import { ReloadError } from '../errors.js'
import { LISTEN_FDS_START, listenEnv } from './fds.js'
import { launch } from './launch.js'
import { decodeChild, LineReader, type ChildMessage } from './link.js'
import { debug } from '../log.js'
import { delay, later } from '../node/timers.js'

export { startCwd } from './launch.js'

/** How to start the next generation. */
export interface SpawnOptions {
  fds: number[]
  names: string[]
  generation: number
  readyTimeout: number
  /** A child stopped before it was ready drains what it took; it is killed if still there after this. */
  killAfter: number
  cwd: string
  /** Aborting stops the child and rejects with `ERR_RELOAD_ABORTED`. */
  signal: AbortSignal
  /** Told the child's pid as soon as it exists, and which start this is (more than 1 after a hangup). */
  onSpawn?: (pid: number, attempt: number, child: ChildProcess) => void
  /**
   * What to run and with which environment. When not given: this same program as it was launched, argv and
   * environment as the kernel kept them at start-up (see launch.ts), without the protocol's variables.
   */
  command?: { file: string, args: string[], env: NodeJS.ProcessEnv, stdin: 'inherit' | 'ignore' }
  /** Names the new process in messages: `new generation` unless given. */
  what?: string
  /** What the messages of a failed start advise: `fix it and reload again` unless given ('' for none). */
  advice?: string
  /**
   * A balancing keeper's worker: it gets Node's IPC channel (after the link) and `RELOAD_HANDOFF=1`, and
   * takes the connections handed on it instead of accepting.
   */
  handoff?: boolean
  /** Told what the child says before it is ready, other than ready or its error (what it supports). */
  onMessage?: (message: ChildMessage) => void
}

/** A new generation that said it is ready, and the link its parent keeps to it until the parent exits. */
export interface Child {
  process: ChildProcess
  pid: number
  /** Closing it tells the child its parent's drain is over. */
  link: Socket | undefined
}

// LISTEN_PID must be the child's own pid, which a parent cannot know before the fork. The shell knows
// it ($$) and exec keeps it.
const withOwnPid = 'export LISTEN_PID=$$; exec "$0" "$@"'

// SIGTERM, not SIGKILL: a generation that listens accepts at once, before it is ready, and its drain
// finishes what it took.
function stop (child: ChildProcess, killAfter: number): void {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  later(killAfter, () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
}

// What the kernel's refusal means for the operator: a limit to raise, or a path to fix.
const spawnHints: Record<string, string> = {
  EMFILE: 'this process is out of file descriptors: raise its limit (ulimit -n, systemd LimitNOFILE=) or find what holds them',
  ENFILE: 'the system is out of file descriptors (fs.file-max): find what holds them',
  EAGAIN: 'the process limit is reached (ulimit -u, a cgroup pids.max, systemd TasksMax=): raise it',
  ENOMEM: 'the system is out of memory: free some, or lower what the processes use'
}

function spawnFailed (err: unknown, file: string): ReloadError {
  const message = err instanceof Error ? err.message : String(err)
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const hint = (code === undefined ? undefined : spawnHints[code]) ??
    `check that /bin/sh and ${file} exist and the working directory is there`
  return new ReloadError('ERR_RELOAD_SPAWN_FAILED', `could not start the new generation (${message}); ${hint}`, { cause: err })
}

/**
 * Starts the same program again, with `fds` as its fds 3, 4, … and a socket after them on which it says
 * it is ready. Resolves with the child once it is; otherwise kills it and rejects with a coded error.
 */
export async function spawnGeneration (options: SpawnOptions): Promise<Child> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(options, attempt)
    } catch (err) {
      // A SIGHUP sent to the old generation's whole group between fork and setsid stays pending in the
      // child, and libuv resets SIGHUP to its default before exec: that child dies before it runs a line.
      // Nothing but such a signal can reach it there, so it is started again, 10 times at most.
      if (!(err instanceof HangupBeforeStart)) throw err
      if (attempt === HANGUP_RETRIES || options.signal.aborted) throw err.error
      debug('generation %d killed by SIGHUP before it started; spawning again', options.generation)
      // On a busy machine a child may wait long to run its first line: while the storm lasts, each start
      // would be hit again. Spread the next ones out.
      await delay(Math.min(25 * 2 ** (attempt - 1), 2000))
    }
  }
}

const HANGUP_RETRIES = 10

class HangupBeforeStart extends Error {
  constructor (readonly error: ReloadError) { super(error.message) }
}

// The fd of the link (after the listeners), and of a held child's hold socket (after the link and Node's IPC channel).
function linkFd (options: SpawnOptions): number { return LISTEN_FDS_START + options.fds.length }
function holdFd (options: SpawnOptions): number { return linkFd(options) + 1 + (options.handoff === true ? 1 : 0) }

/** Spawns the child, or throws the coded reason; a child with no pid is one whose `error` comes next. */
function launchChild (options: SpawnOptions, hold: boolean): { child: ChildProcess, file: string } {
  const readyFd = linkFd(options)
  const command = options.command ?? { ...launch.command(), stdin: 'inherit' }
  const env = { ...command.env, ...listenEnv(options.names, readyFd, options.generation) }
  Reflect.deleteProperty(env, 'LISTEN_PID')
  if (options.handoff === true) env.RELOAD_HANDOFF = '1'
  if (hold) env.RELOAD_HOLD = String(holdFd(options))
  debug('spawn %s %o fds=%o%s', command.file, command.args, options.fds, hold ? ' (held)' : '')
  let child: ChildProcess
  try {
    child = childProcess().spawn('/bin/sh', ['-c', withOwnPid, command.file, ...command.args], {
      stdio: [command.stdin, 'inherit', 'inherit', ...options.fds, 'pipe', ...(options.handoff === true ? ['ipc' as const] : []), ...(hold ? ['pipe' as const] : [])],
      env,
      cwd: options.cwd,
      // Its own session and process group: a SIGHUP to the whole group (a terminal hangup, kill -HUP -PGID)
      // must not reach a generation before its handler is installed, where SIGHUP's default kills it.
      // Node resets ignored signals and the signal mask at start-up, so nothing less would hold.
      detached: true
    })
  } catch (err) {
    throw spawnFailed(err, command.file)
  }
  return { child, file: command.file }
}

// Out of fds or processes (EMFILE, ENFILE, EAGAIN), Node returns a child with no pid and no stdio and
// reports why on the next tick: nothing of it may be touched before that.
function failedSpawn (child: ChildProcess, file: string): Promise<never> {
  return new Promise((_resolve, reject) => {
    child.once('error', (err) => { reject(spawnFailed(err, file)) })
  })
}

function spawnOnce (options: SpawnOptions, attempt: number): Promise<Child> {
  let launched
  try { launched = launchChild(options, false) } catch (err) { return Promise.reject(err) }
  const { child, file } = launched
  if (child.pid === undefined) return failedSpawn(child, file)
  options.onSpawn?.(child.pid, attempt, child)
  return whenReady(options, child, file)
}

/** Resolves once `child` says it is ready on its link; otherwise stops it and rejects with the coded reason. */
function whenReady (options: SpawnOptions, child: ChildProcess, file: string): Promise<Child> {
  const pipe = child.stdio[linkFd(options)] as Socket | null | undefined
  const what = options.what ?? 'new generation'
  const advice = options.advice ?? 'fix it and reload again'
  const advise = (text: string): string => advice === '' ? text : `${text}, ${advice}`
  return new Promise((resolve, reject) => {
    let settled = false
    const finish = (err?: Error): void => {
      settled = true
      timer.cancel()
      options.signal.removeEventListener('abort', onAbort)
      child.off('exit', onExit)
      child.off('error', onError)
      pipe?.off('data', onData)
      if (err === undefined) {
        pipe?.unref()
        resolve({ process: child, pid: child.pid as number, link: pipe ?? undefined })
        return
      }
      pipe?.destroy()
      stop(child, options.killAfter)
      reject(err)
    }
    const lines = new LineReader((line) => {
      // Lines after READY=1 (or ERROR=) are for whoever reads the link next.
      if (settled) return
      const message = decodeChild(line)
      if (message === undefined) return
      if (message.type === 'ready') { finish(); return }
      if (message.type === 'error') {
        finish(new ReloadError('ERR_RELOAD_CHILD_FAILED',
          `${what} (pid ${child.pid}) failed before it was ready: ${message.reason}${advice === '' ? '' : `; ${advice}`}`))
        return
      }
      options.onMessage?.(message)
    })
    const onData = (chunk: string): void => { lines.push(chunk) }
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      const error = new ReloadError('ERR_RELOAD_CHILD_EXITED',
        `${what} (pid ${child.pid}) exited with ${signal ?? `code ${code}`} before it was ready; ` +
        advise('see its output above'))
      finish(signal === 'SIGHUP' ? new HangupBeforeStart(error) : error)
    }
    const onError = (err: Error): void => { finish(spawnFailed(err, file)) }
    const timer = later(options.readyTimeout, () => {
      finish(new ReloadError('ERR_RELOAD_READY_TIMEOUT',
        `${what} (pid ${child.pid}) was not ready within readyTimeout (${options.readyTimeout} ms); ` +
        'it must listen (or call ready()) in time: raise readyTimeout or find what blocks its start-up'))
    }, { keepAlive: true })
    const onAbort = (): void => {
      finish(new ReloadError('ERR_RELOAD_ABORTED', `handover to pid ${child.pid} abandoned: this generation is ${String(options.signal.reason ?? 'shutting down')}`))
    }
    if (options.signal.aborted) { onAbort(); return }
    options.signal.addEventListener('abort', onAbort, { once: true })
    pipe?.setEncoding('utf8')
    pipe?.on('data', onData)
    pipe?.on('error', (err) => debug('ready pipe: %s', err))
    child.once('exit', onExit)
    child.once('error', onError)
  })
}

/**
 * A child started ahead of need: Node booted and the preload loaded (with the reloader), held before the app's
 * first line until {@link HeldChild.go}. Only a preload that says it holds (`HOLDS=1` from a worker of the same
 * command) may be started so: another program would serve at once.
 */
export interface HeldChild {
  pid: number
  process: ChildProcess
  /**
   * `held` once it says it waits (it runs the app on `go`, and exits on `dismiss`); `other` when it said
   * something else; `closed` when its end of the socket closed first (it exited, or closed the fd).
   */
  readonly holding: Promise<'held' | 'other' | 'closed'>
  /**
   * Lets it run the app; resolves once it is ready, as {@link spawnGeneration} does (the ready timeout counts
   * from now). `now` names it and hears it from here on (`what`, `onSpawn`, `onMessage`, `signal`).
   */
  go: (now?: Partial<Pick<SpawnOptions, 'what' | 'onSpawn' | 'onMessage' | 'signal' | 'advice'>>) => Promise<Child>
  /** Lets it exit without running the app (closing the hold socket). */
  dismiss: () => void
}

/**
 * Starts a child held before the app's first line (`RELOAD_HOLD`: the fd of a socket it reads one byte from).
 * Undefined when it could not be started (out of fds or processes: nothing is lost, a start is still possible).
 */
export function holdGeneration (options: SpawnOptions): HeldChild | undefined {
  let launched
  try { launched = launchChild(options, true) } catch (err) {
    debug('held child: %s', (err as Error).message)
    return undefined
  }
  const { child, file } = launched
  if (child.pid === undefined) {
    child.once('error', (err) => { debug('held child: %s', err.message) })
    return undefined
  }
  const hold = child.stdio[holdFd(options)] as Socket | null | undefined
  let said = ''
  const holding = new Promise<'held' | 'other' | 'closed'>((resolve) => {
    if (hold == null) { resolve('closed'); return }
    hold.setEncoding('utf8')
    hold.on('data', (chunk: string) => {
      said += chunk
      if (said.includes('\n')) resolve(said.startsWith('HELD\n') ? 'held' : 'other')
    })
    hold.on('error', () => {})
    hold.on('close', () => { resolve('closed') })
  })
  hold?.unref()
  let released = false
  return {
    pid: child.pid,
    process: child,
    holding,
    go: (now) => {
      if (released) return Promise.reject(new Error('a held child goes once'))
      released = true
      const next = { ...options, ...now }
      if (child.exitCode !== null || child.signalCode !== null || hold == null || hold.destroyed) {
        return Promise.reject(new ReloadError('ERR_RELOAD_CHILD_EXITED', `${next.what ?? 'new generation'} (pid ${child.pid}) exited before it was let go`))
      }
      next.onSpawn?.(child.pid as number, 1, child)
      hold.end('g')
      return whenReady(next, child, file)
    },
    dismiss: () => {
      if (released) return
      released = true
      hold?.destroy()
    }
  }
}
