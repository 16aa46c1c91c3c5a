import { checkInternals, commandWrapper, type Logger } from '@reload/core/keeper'
import { CliError } from './errors.js'
import type { RunOptions } from './args.js'
import { Keeper } from './keeper.js'
import { holdListeners, type Held } from './listen.js'

/** How a command (`run`, `dev`) differs in the start-up they share. */
export interface StartUp {
  log: Logger
  /** Who SIGUSR1 and SIGALRM mean nothing to, as their warning says it. */
  who: string
  /** Checks and defaults of the command's own, once the terminal is guarded and before the listeners are held. */
  beforeListen?: () => void
  /** The usage error when no listener is held; none: go on without one. */
  nothingHeld?: string
  /** SIGHUP and SIGUSR2. */
  roll: (keeper: Keeper, signal: NodeJS.Signals) => void
  /** What the command releases before the process exits with `code`, once the listeners are closed. */
  release: (code: number) => void
}

/** A started keeper (its workers not yet), the listeners it holds, and how the process ends. */
export interface Started {
  keeper: Keeper
  held: Held[]
  /** Closes the listeners, releases what the command holds, and exits with `code`. */
  finish: (code: number) => void
}

/** A warning when `command` starts with a wrapper that will not hand the sockets to the server. */
export function wrapperOf (command: string[]): string | undefined {
  const wrapper = commandWrapper(command)
  if (wrapper === undefined) return undefined
  return `${wrapper.name} starts the server as its own child and does not pass the listening sockets on, so the workers cannot start: ${wrapper.fix}`
}

/**
 * What `reload run` and `reload dev` do before their first worker starts: the signals that mean nothing
 * taken, Node's internals checked, the terminal's write errors ignored, the listeners held (with their
 * warnings), a wrapper warned of, the keeper made, and the signals they share wired: SIGTERM, SIGINT and
 * SIGQUIT stop (a second one forces), SIGHUP and SIGUSR2 roll.
 */
export async function startUp (options: RunOptions, how: StartUp): Promise<Started> {
  const { log } = how
  // Installed first: Node opens its inspector on SIGUSR1 unless a listener takes the signal, and the
  // default action of SIGALRM ends the process.
  for (const signal of ['SIGUSR1', 'SIGALRM'] as const) process.on(signal, () => log.warn({}, `${signal} ignored: it means nothing to ${how.who}`))
  checkInternals()
  // A terminal that hung up fails every write to it; the keeper must outlive its terminal.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  how.beforeListen?.()
  const { held, warnings } = await holdListeners(options.listen)
  for (const warning of warnings) log.warn({}, warning)
  if (held.length === 0 && how.nothingHeld !== undefined) throw new CliError('ERR_RELOAD_USAGE', how.nothingHeld)
  const wrapper = wrapperOf(options.command)
  if (wrapper !== undefined) log.warn({ command: options.command.join(' ') }, wrapper)
  const keeper = new Keeper(options, held, log)
  const finish = (code: number): void => {
    for (const h of held) h.close()
    how.release(code)
    process.exit(code)
  }
  // SIGQUIT as nginx and unicorn mean it, and as images with STOPSIGNAL SIGQUIT send it: a graceful stop.
  // A second one forces (the keeper's shutdown says how).
  const stop = (signal: NodeJS.Signals): void => { keeper.shutdown(signal).then(finish, () => finish(1)) }
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(signal, stop)
  // SIGUSR2 as nodemon and unicorn mean it: a reload.
  for (const signal of ['SIGHUP', 'SIGUSR2'] as const) process.on(signal, (signal) => how.roll(keeper, signal))
  return { keeper, held, finish }
}
