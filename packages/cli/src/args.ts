import { resolve } from 'node:path'
import { duplicates, fail, livenessTimeout, metricsAddress, parseAddress, parseSize, parseTime, pid, positiveInteger, socketPath } from './values.js'

/** Where the keeper listens: a TCP host and port (port 0: any free port), or a unix socket path. */
export type Address = { kind: 'tcp', host: string | undefined, port: number } | { kind: 'unix', path: string }

export interface RunOptions {
  listen: Address[]
  workers: number
  pidFile: string | undefined
  control: string | undefined
  readyTimeout: number
  drainTimeout: number
  shutdownDelay: number
  /** How long a worker's event loop may go without answering before the worker is replaced (Infinity: never). */
  livenessTimeout: number
  /** Resident memory, in bytes, past which a worker is rolled over (undefined: no limit). */
  maxMemory: number | undefined
  /** Where the keeper serves Prometheus metrics (GET /metrics), never on the app's sockets. */
  metrics: Extract<Address, { kind: 'tcp' }> | undefined
  /** Preload @reload/core/register into Node workers (an app with no reload code). */
  preload: boolean
  /** Keep a spare worker booted for restarts (`reload run`; never under `reload dev`, which has its own). */
  spare: boolean
  command: string[]
  /** Options of reload's that the command holds (see {@link misplacedOptions}); undefined: none. */
  misplaced: Misplaced | undefined
}

/** Options of reload's written after the command, and the command line with them before it. */
export interface Misplaced { options: string[], line: string[] }

/** How `reload status` and `reload reload` find the keeper. */
export interface Target { control: string | undefined, pid: number | undefined, pidFile: string | undefined }

/** The commands of `reload`. */
export type CommandName = 'run' | 'dev' | 'status' | 'reload'

export type Command =
  | { name: 'run', options: RunOptions }
  | { name: 'dev', options: RunOptions & { watch: string[], ignore: string[] } }
  | { name: 'status', target: Target, json: boolean, watch: boolean, interval: number }
  | { name: 'reload', target: Target, wait: boolean, timeout: number }
  | { name: 'help', command: CommandName | undefined }
  | { name: 'version' }

const allowed: Record<CommandName, string[]> = {
  dev: ['--listen', '--ready-timeout', '--drain-timeout', '--liveness-timeout', '--max-memory', '--no-preload', '--watch', '--ignore'],
  run: ['--listen', '--workers', '--pid-file', '--ready-timeout', '--drain-timeout', '--shutdown-delay', '--liveness-timeout', '--max-memory', '--metrics', '--control', '--no-preload', '--no-spare'],
  status: ['--json', '--watch', '--interval', '--control', '--pid', '--pid-file'],
  reload: ['--wait', '--timeout', '--control', '--pid', '--pid-file']
}

function isCommand (name: string): name is CommandName {
  return name === 'run' || name === 'dev' || name === 'status' || name === 'reload'
}

/** `argv` as a shell would take it back: words with spaces or quotes single-quoted. */
export function shellLine (argv: string[]): string {
  return argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`).join(' ')
}

/**
 * The options of `reload <name>` that `command` holds, after its first word (written after the command,
 * they are the command's arguments), and the command line with them moved before it: `before` is what
 * came before the command. Undefined when it holds none.
 */
export function misplacedOptions (name: 'run' | 'dev', before: string[], command: string[]): Misplaced | undefined {
  const options: string[] = []
  const left = command.slice(0, 1)
  for (let i = 1; i < command.length; i++) {
    const arg = command[i] as string
    const flag = arg.split('=')[0] as string
    if (!allowed[name].includes(flag)) { left.push(arg); continue }
    options.push(arg)
    if (flag === arg && flag !== '--no-preload' && flag !== '--no-spare' && i + 1 < command.length) options.push(command[++i] as string)
  }
  if (options.length === 0) return undefined
  return { options, line: ['reload', name, ...before, ...options, '--', ...left] }
}

function unknownCommand (name: string, rest: string[]): never {
  // `reload --listen 3000 -- node app.js`: the options of a command the user did not name.
  if (allowed.run.includes(name.split('=')[0] as string)) {
    fail(`'${name}' is an option of reload run, and options come after the command's name: ${shellLine(['reload', 'run', name, ...rest])}`)
  }
  // `reload node app.js` or `reload app.js`: a server to run, without the run.
  const server = name === 'node' ? [name, ...rest] : /\.[cm]?[jt]s$/.test(name) ? ['node', name, ...rest] : undefined
  fail(`unknown command '${name}': the commands are run, dev, status and reload${server === undefined ? '' : `; to run it as a server, say reload run --listen PORT -- ${shellLine(server)}`}`)
}

/**
 * Reads the command line. Options come before the command; `--` ends them (without it, the first word
 * that is not an option starts the command).
 * @throws {ReloadError} `ERR_RELOAD_USAGE`, saying what was wrong.
 */
export function parseArgs (argv: string[]): Command {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const about = rest[0]
    return { name: 'help', command: about !== undefined && isCommand(about) ? about : undefined }
  }
  if (name === 'version' || name === '--version' || name === '-v') return { name: 'version' }
  if (!isCommand(name)) unknownCommand(name, rest)
  const options: RunOptions = {
    listen: [],
    workers: 1,
    pidFile: undefined,
    control: undefined,
    readyTimeout: 60_000,
    drainTimeout: 30_000,
    shutdownDelay: 0,
    // A worker stuck this long is an outage for everyone it holds; a garbage collection or a slow
    // synchronous start-up step is far shorter.
    livenessTimeout: 10_000,
    maxMemory: undefined,
    metrics: undefined,
    ...{ preload: true, spare: name === 'run', command: [], misplaced: undefined }
  }
  if (name === 'dev') {
    options.drainTimeout = 5000
    options.readyTimeout = 30_000
    options.livenessTimeout = Infinity
  }
  const watch: string[] = []
  const ignore: string[] = []
  const target: Target = { control: undefined, pid: undefined, pidFile: undefined }
  let json = false
  let statusWatch = false
  let interval = 1000
  let wait = false
  let timeout: number | undefined
  let before = rest
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string
    if (arg === '--') { options.command = rest.slice(i + 1); before = rest.slice(0, i); break }
    if (!arg.startsWith('-')) {
      if (name !== 'run' && name !== 'dev') fail(`reload ${name} takes no argument '${arg}'`)
      options.command = rest.slice(i)
      before = rest.slice(0, i)
      break
    }
    if (arg === '--help' || arg === '-h') return { name: 'help', command: name }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    if (!allowed[name].includes(flag)) {
      const theirs = (['run', 'dev'] as const).filter((other) => other !== name && allowed[other].includes(flag)).map((other) => `reload ${other}`)
      fail(`reload ${name} has no option ${flag}${theirs.length === 0 ? '' : ` (an option of ${theirs.join(' and ')})`}`)
    }
    const value = (): string => {
      if (eq !== -1) return arg.slice(eq + 1)
      const next = rest[++i]
      if (next === undefined) fail(`${flag} needs a value`)
      return next
    }
    switch (flag) {
      case '--listen': options.listen.push(parseAddress(value())); break
      case '--workers': options.workers = positiveInteger(flag, value()); break
      case '--pid-file': options.pidFile = target.pidFile = resolve(value()); break
      case '--ready-timeout': options.readyTimeout = parseTime(flag, value()); break
      case '--drain-timeout': options.drainTimeout = parseTime(flag, value()); break
      case '--shutdown-delay': options.shutdownDelay = parseTime(flag, value()); break
      case '--liveness-timeout': options.livenessTimeout = livenessTimeout(value()); break
      case '--max-memory': options.maxMemory = parseSize(flag, value()); break
      case '--control': {
        const text = value()
        options.control = target.control = socketPath(flag, text, resolve(text))
        break
      }
      case '--no-preload': options.preload = false; break
      case '--no-spare': options.spare = false; break
      case '--json': json = true; break
      case '--watch': if (name === 'status') { statusWatch = true } else { watch.push(resolve(value())) } break
      case '--interval': interval = parseTime(flag, value()); break
      case '--metrics': options.metrics = metricsAddress(value()); break
      case '--wait': wait = true; break
      case '--timeout': timeout = parseTime(flag, value()); break
      case '--pid': target.pid = pid(value()); break
      case '--ignore': ignore.push(value()); break
    }
  }
  if (name === 'status') {
    if (interval < 100) fail(`--interval should be at least 100ms, instead got ${interval} ms`)
    if (json && statusWatch) fail('--json and --watch do not go together: --json is for programs, --watch for people')
    return { name, target, json, watch: statusWatch, interval }
  }
  // Without --wait the answer is immediate: a keeper that gives none is stopped or swamped.
  if (name === 'reload') return { name, target, wait, timeout: timeout ?? (wait ? Infinity : 10_000) }
  duplicates(options.listen)
  if (options.command.length === 0) fail(`reload ${name} needs a command to run, after --: reload ${name} --listen 3000 -- node server.js`)
  if (options.readyTimeout < 1) fail('--ready-timeout should be at least 1 ms')
  options.misplaced = misplacedOptions(name, before, options.command)
  if (name === 'dev') return { name, options: { ...options, watch: watch.length > 0 ? watch : [process.cwd()], ignore } }
  return { name, options }
}
