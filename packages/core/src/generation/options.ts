import { constants } from 'node:os'
import { ReloadError } from '../errors.js'
import type { Logger } from '../log.js'

/** Options of {@link reloader}. Every time is in milliseconds. */
export interface ReloadOptions {
  /**
   * The signal that starts a handover, or `false` to start one only through `upgrade()`. It cannot be
   * one of `shutdownSignals`, nor `SIGKILL` or `SIGSTOP`, which no process can catch.
   * @default 'SIGHUP'
   */
  signal?: NodeJS.Signals | false
  /**
   * Signals that drain this generation and exit, or `false` to leave them to the app.
   * A second one while draining exits at once.
   * @default ['SIGTERM', 'SIGINT']
   */
  shutdownSignals?: NodeJS.Signals[] | false
  /**
   * How long a new generation may take to become ready before it is killed and the old one keeps serving.
   * `Infinity` (or any value above 2^31 - 1) means no limit. `RELOAD_READY_TIMEOUT` sets it from the environment.
   * @default 60000
   */
  readyTimeout?: number
  /**
   * The whole shutdown budget of a generation, from the signal (or the next generation's ready) to exit:
   * `shutdownDelay`, the drain and the `beforeExit` hooks all fit in it. What is still open when it runs
   * out is cut. `Infinity` (or any value above 2^31 - 1) means no limit.
   * `RELOAD_DRAIN_TIMEOUT` sets it from the environment.
   * @default 30000
   */
  drainTimeout?: number
  /**
   * How long a keep-alive socket that is idle when the drain starts stays open for a last request.
   * Defaults to each server's own `keepAliveTimeout` (5 s in Node), the time its clients were promised.
   * `RELOAD_IDLE_GRACE` sets it from the environment.
   */
  idleGrace?: number
  /**
   * At a drain, long-lived connections (HTTP/2 sessions, WebSockets closed through `trackWebSockets()`,
   * event streams of `eventStream()`, whatever `goingAway()` closes) are told to go away each at a random
   * moment within this window, so their clients reconnect spread out rather than all in one millisecond.
   * Part of the `drainTimeout` budget, so it must be shorter than `drainTimeout`.
   * `RELOAD_GOAWAY_WINDOW` sets it from the environment.
   * @default 1000 (or half of `drainTimeout`, if that is less)
   */
  goAwayWindow?: number
  /**
   * After a shutdown signal, keep serving this long before draining, so load balancers notice first.
   * Part of the `drainTimeout` budget, so it must be shorter than `drainTimeout`.
   * @default 0
   */
  shutdownDelay?: number
  /**
   * Report ready as soon as every server listens. Set `false` for async warm-up, then call `ready()`.
   * @default true
   */
  autoReady?: boolean
  /** A file that holds the pid of the generation that is serving, rewritten atomically on each handover. */
  pidFile?: string
  /**
   * Where reload logs its events: a pino-style logger, `console`, or `false` for silence.
   * @default one line per event on stderr
   */
  logger?: Logger | Console | false
  /**
   * Call `process.exit()` when a drain finishes. Set `false` to exit on your own after the `exit` event.
   * @default true
   */
  exit?: boolean
  /**
   * Working directory of new generations. Defaults to `$PWD` when it is the current directory by
   * another path (a `current` symlink that a deploy moves), else `process.cwd()`.
   */
  cwd?: string
}

/** The defaults of {@link ReloadOptions}. */
export const defaults = Object.freeze({
  signal: 'SIGHUP' as NodeJS.Signals | false,
  shutdownSignals: Object.freeze(['SIGTERM', 'SIGINT']) as readonly NodeJS.Signals[] | false,
  readyTimeout: 60_000,
  drainTimeout: 30_000,
  shutdownDelay: 0,
  goAwayWindow: 1000,
  autoReady: true,
  exit: true
})

export type ResolvedOptions = Omit<Required<ReloadOptions>, 'idleGrace' | 'pidFile' | 'logger' | 'cwd' | 'shutdownSignals'> & {
  idleGrace: number | undefined
  pidFile: string | undefined
  logger: Logger | Console | false | undefined
  cwd: string | undefined
  shutdownSignals: readonly NodeJS.Signals[] | false
}

const known = new Set(['signal', 'shutdownSignals', 'readyTimeout', 'drainTimeout', 'idleGrace', 'shutdownDelay',
  'goAwayWindow', 'autoReady', 'pidFile', 'logger', 'exit', 'cwd'])

function show (value: unknown): string {
  if (typeof value === 'string') return `'${value}'`
  if (typeof value === 'number') return String(value)
  if (typeof value === 'function') return 'a function'
  try { return JSON.stringify(value) ?? String(value) } catch { return String(value) }
}

function invalid (name: string, should: string, value: unknown): ReloadError {
  return new ReloadError('ERR_RELOAD_INVALID_OPTION', `${name} option should be ${should}, instead got ${show(value)}`)
}

// No process can catch these: a handler for them fails deep in libuv (uv_signal_start EINVAL).
const uncatchable = new Set(['SIGKILL', 'SIGSTOP'])

function isSignal (value: unknown): value is NodeJS.Signals {
  return typeof value === 'string' && value in constants.signals && !uncatchable.has(value)
}

// Infinity is a time a user can mean ("no limit"); NaN is not.
function isTime (value: unknown, min: number): value is number {
  return typeof value === 'number' && !Number.isNaN(value) && value >= min
}

function checkTime (name: string, value: unknown, min: number): void {
  if (value === undefined) return
  if (!isTime(value, min)) throw invalid(name, `a number of milliseconds >= ${min} (Infinity for no limit)`, value)
}

// Operators tune these without touching code; an option set in code wins over the environment.
const fromEnv = {
  readyTimeout: 'RELOAD_READY_TIMEOUT',
  drainTimeout: 'RELOAD_DRAIN_TIMEOUT',
  idleGrace: 'RELOAD_IDLE_GRACE',
  goAwayWindow: 'RELOAD_GOAWAY_WINDOW'
} as const

function envTime (option: keyof typeof fromEnv, min: number): number | undefined {
  const name = fromEnv[option]
  const text = process.env[name]
  if (text === undefined || text === '') return undefined
  const value = Number(text)
  if (!isTime(value, min)) throw invalid(`${option} (from ${name})`, `a number of milliseconds >= ${min} (Infinity for no limit)`, text)
  return value
}

/**
 * Checks `options` and fills the gaps from {@link defaults}.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION`, naming the option and the value it got.
 */
export function resolveOptions (options: ReloadOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalid('reload', 'an object', options)
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalid(key, `one of ${[...known].join(', ')} (unknown option)`, (options as Record<string, unknown>)[key])
  }
  const o = options as Record<string, unknown>
  if (o.signal !== undefined && o.signal !== false && !isSignal(o.signal)) throw invalid('signal', "a signal name such as 'SIGHUP' (not SIGKILL or SIGSTOP), or false", o.signal)
  if (o.shutdownSignals !== undefined && o.shutdownSignals !== false &&
    !(Array.isArray(o.shutdownSignals) && o.shutdownSignals.every(isSignal))) {
    throw invalid('shutdownSignals', "an array of signal names such as ['SIGTERM'] (not SIGKILL or SIGSTOP), or false", o.shutdownSignals)
  }
  const signal = o.signal ?? defaults.signal
  const shutdownSignals = o.shutdownSignals ?? defaults.shutdownSignals
  if (signal !== false && shutdownSignals !== false && (shutdownSignals as readonly string[]).includes(signal as string)) {
    throw invalid('signal', `a signal that is not also a shutdown signal (${(shutdownSignals as readonly string[]).join(', ')}): one signal cannot both reload and stop`, signal)
  }
  checkTime('readyTimeout', o.readyTimeout, 1)
  checkTime('drainTimeout', o.drainTimeout, 0)
  checkTime('idleGrace', o.idleGrace, 0)
  checkTime('shutdownDelay', o.shutdownDelay, 0)
  checkTime('goAwayWindow', o.goAwayWindow, 0)
  for (const name of ['autoReady', 'exit']) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') throw invalid(name, 'a boolean', o[name])
  }
  for (const name of ['pidFile', 'cwd']) {
    if (o[name] !== undefined && (typeof o[name] !== 'string' || o[name] === '')) throw invalid(name, 'a non-empty path', o[name])
  }
  if (o.logger !== undefined && o.logger !== false) {
    const l = o.logger as Record<string, unknown> | null
    if (l === null || typeof l !== 'object' || !['info', 'warn', 'error'].every((m) => typeof l[m] === 'function')) {
      throw invalid('logger', 'a logger with info, warn and error methods, console, or false', o.logger)
    }
  }
  const drainTimeout = options.drainTimeout ?? envTime('drainTimeout', 0) ?? defaults.drainTimeout
  const shutdownDelay = options.shutdownDelay ?? defaults.shutdownDelay
  if (shutdownDelay > 0 && shutdownDelay >= drainTimeout) {
    throw invalid('shutdownDelay', `shorter than drainTimeout (${drainTimeout} ms), the budget it is part of`, shutdownDelay)
  }
  const window = options.goAwayWindow ?? envTime('goAwayWindow', 0)
  if (window !== undefined && window > 0 && window >= drainTimeout - shutdownDelay) {
    throw invalid('goAwayWindow', `shorter than drainTimeout (${drainTimeout} ms${shutdownDelay > 0 ? ` less shutdownDelay, ${shutdownDelay} ms` : ''}), ` +
      'the budget it is part of: the clients told last need time to close', window)
  }
  const goAwayWindow = window ?? Math.min(defaults.goAwayWindow, (drainTimeout - shutdownDelay) / 2)
  return {
    signal: options.signal ?? defaults.signal,
    shutdownSignals: options.shutdownSignals ?? defaults.shutdownSignals,
    readyTimeout: options.readyTimeout ?? envTime('readyTimeout', 1) ?? defaults.readyTimeout,
    drainTimeout,
    idleGrace: options.idleGrace ?? envTime('idleGrace', 0),
    shutdownDelay,
    goAwayWindow,
    autoReady: options.autoReady ?? defaults.autoReady,
    pidFile: options.pidFile,
    logger: options.logger,
    exit: options.exit ?? defaults.exit,
    cwd: options.cwd
  }
}

function same (a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i])
  return Object.is(a, b)
}

/** The first of `keys` whose value differs between `before` and `after`, if any. */
export function changedOption (before: ResolvedOptions, after: ResolvedOptions, keys: string[]): string | undefined {
  return keys.find((key) => known.has(key) && !same(before[key as keyof ResolvedOptions], after[key as keyof ResolvedOptions]))
}
