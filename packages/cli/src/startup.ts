import { checkInternals, commandWrapper, type Logger } from '@reload/core/keeper'
import { CliError } from './errors.js'
import { shellLine, type Address, type RunOptions } from './args.js'
import { Keeper } from './keeper.js'
import { holdListeners, type Held } from './listen.js'

/** How a command (`run`, `dev`) differs in the start-up they share. */
export interface StartUp {
  name: 'run' | 'dev'
  log: Logger
  /** Who SIGUSR1 and SIGALRM mean nothing to, as their warning says it. */
  who: string
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

/**
 * Where to listen when neither --listen nor systemd says: `$PORT`, as platforms that run one process per
 * port (Heroku, Cloud Run, Render) and the app itself read it. Undefined when PORT is unset.
 * @throws {ReloadError} `ERR_RELOAD_USAGE` when PORT is not a port.
 */
export function portFromEnv (port: string | undefined): Extract<Address, { kind: 'tcp' }> | undefined {
  if (port === undefined || port === '') return undefined
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw new CliError('ERR_RELOAD_USAGE', `PORT is '${port}', not a port (0 to 65535), and no --listen was given: set PORT to a port, or give --listen ADDR`)
  }
  return { kind: 'tcp', host: undefined, port: Number(port) }
}

/** The usage error of `reload <name>` with nothing to listen on: where its options went, when it holds some. */
export function nothingToListen (name: 'run' | 'dev', options: RunOptions): CliError {
  const misplaced = options.misplaced
  if (misplaced !== undefined) {
    return new CliError('ERR_RELOAD_USAGE', `reload ${name} has nothing to listen on: ${shellLine(misplaced.options)} came after the command, ` +
      `which gets everything written after it; reload's options go before the command (and before --): ${shellLine(misplaced.line)}`)
  }
  const otherwise = name === 'run' ? ', set PORT, or start it under systemd socket activation' : ', or set PORT'
  return new CliError('ERR_RELOAD_USAGE', `reload ${name} has nothing to listen on: give --listen ADDR (PORT, HOST:PORT, unix:/path)${otherwise}`)
}

/** A message of core's in the cli's words: core's option readyTimeout is --ready-timeout here. */
export function inFlags (message: string): string {
  return message.replaceAll('readyTimeout', '--ready-timeout')
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
  if (options.listen.length === 0 && process.env.LISTEN_FDS === undefined) {
    const port = portFromEnv(process.env.PORT)
    if (port !== undefined) {
      options.listen.push(port)
      log.info({}, `listening on $PORT (${port.port}): no --listen given`)
    }
  }
  const { held, warnings } = await holdListeners(options.listen)
  for (const warning of warnings) log.warn({}, warning)
  if (held.length === 0) throw nothingToListen(how.name, options)
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
