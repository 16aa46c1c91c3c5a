import { resolve } from 'node:path'
import { ReloadError } from '@reload/core/keeper'

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
  /** Preload @reload/core/register into Node workers (an app with no reload code). */
  preload: boolean
  command: string[]
}

/** How `reload status` and `reload reload` find the keeper. */
export interface Target { control: string | undefined, pid: number | undefined, pidFile: string | undefined }

export type Command =
  | { name: 'run', options: RunOptions }
  | { name: 'dev', options: RunOptions & { watch: string[], ignore: string[] } }
  | { name: 'status', target: Target, json: boolean }
  | { name: 'reload', target: Target, wait: boolean, timeout: number }
  | { name: 'help' }
  | { name: 'version' }

export const usage = `Usage:
  reload run [options] -- <command> [args...]   run <command> as workers of a keeper that holds the sockets
  reload status [--json] [target]                show the keeper's workers
  reload reload [--wait] [target]                roll the workers over to new code (SIGHUP to the keeper)
  reload dev [options] -- <command> [args...]   run <command>, and hand over to the new code at every save

reload run options:
  --listen ADDR          PORT, HOST:PORT, [IPV6]:PORT or unix:/path; repeat for more (also: systemd LISTEN_FDS)
  --workers N            workers accepting on the same sockets (default 1)
  --pid-file FILE        write the keeper's pid there
  --ready-timeout TIME   how long a new worker may take to be ready (default 60s)
  --drain-timeout TIME   how long a worker may drain before what is left is cut (default 30s)
  --shutdown-delay TIME  on SIGTERM, keep serving this long before draining (default 0)
  --control PATH         the control socket (default: $XDG_RUNTIME_DIR/reload/PID.sock, else $TMPDIR/reload-UID/PID.sock)
  --no-preload           do not preload @reload/core/register into Node workers
  TIME is milliseconds, or a number with ms, s or m.

reload dev options: --listen, --ready-timeout, --drain-timeout (default 5s), --no-preload, and
  --watch PATH           what to watch, recursively (default: the current folder); repeat for more
  --ignore GLOB          what not to watch (always ignored: node_modules .* dist build coverage *.log)
  Type rs and Enter to reload by hand.

target (status, reload): --control PATH, --pid PID or --pid-file FILE; none needed when one keeper runs.
  reload reload --wait exits 0 once every worker runs the new code, 1 with the reason when the roll failed
  (--timeout TIME bounds the wait, default: the keeper's own limits).
`

function fail (message: string): never {
  throw new ReloadError('ERR_RELOAD_USAGE', `${message}; see \`reload --help\``)
}

/** Milliseconds from `30000`, `500ms`, `30s`, `2m` or `Infinity`. */
export function parseTime (name: string, text: string | undefined): number {
  if (text === undefined) fail(`${name} needs a value`)
  if (text === 'Infinity') return Infinity
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (match === null) fail(`${name} should be a time such as 5000, 500ms, 30s or 2m, instead got '${text}'`)
  const unit = { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm' ?? 'ms']
  return Math.round(Number(match[1]) * unit)
}

function parsePort (text: string, address: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) fail(`--listen ${address}: '${text}' is not a port (0 to 65535)`)
  return Number(text)
}

/** `3000`, `127.0.0.1:3000`, `localhost:3000`, `[::1]:3000`, `unix:/run/app.sock`. */
export function parseAddress (text: string): Address {
  if (text.startsWith('unix:')) {
    const path = text.slice(5)
    if (path === '') fail(`--listen ${text}: give the socket's path, as unix:/run/app.sock`)
    return { kind: 'unix', path: resolve(path) }
  }
  if (/^\d+$/.test(text)) return { kind: 'tcp', host: undefined, port: parsePort(text, text) }
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text)
  if (v6 !== null) return { kind: 'tcp', host: v6[1] as string, port: parsePort(v6[2] as string, text) }
  const colon = text.lastIndexOf(':')
  if (colon <= 0 || text.slice(0, colon).includes(':')) {
    fail(`--listen '${text}' is not an address: use PORT, HOST:PORT, [IPV6]:PORT or unix:/path`)
  }
  return { kind: 'tcp', host: text.slice(0, colon), port: parsePort(text.slice(colon + 1), text) }
}

function positiveInteger (name: string, text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1024) fail(`${name} should be a whole number from 1 to 1024, instead got '${text ?? ''}'`)
  return Number(text)
}

function pid (text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 2) fail(`--pid should be a process id, instead got '${text ?? ''}'`)
  return Number(text)
}

/**
 * Reads the command line. Options come before the command; `--` ends them (without it, the first word
 * that is not an option starts the command).
 * @throws {ReloadError} `ERR_RELOAD_USAGE`, saying what was wrong.
 */
export function parseArgs (argv: string[]): Command {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') return { name: 'help' }
  if (name === 'version' || name === '--version' || name === '-v') return { name: 'version' }
  if (name !== 'run' && name !== 'status' && name !== 'reload' && name !== 'dev') fail(`unknown command '${name}'`)
  const options: RunOptions = {
    listen: [],
    workers: 1,
    pidFile: undefined,
    control: undefined,
    readyTimeout: 60_000,
    drainTimeout: 30_000,
    shutdownDelay: 0,
    preload: true,
    command: []
  }
  if (name === 'dev') {
    options.drainTimeout = 5000
    options.readyTimeout = 30_000
  }
  const watch: string[] = []
  const ignore: string[] = []
  const target: Target = { control: undefined, pid: undefined, pidFile: undefined }
  let json = false
  let wait = false
  let timeout = Infinity
  const allowed: Record<typeof name, string[]> = {
    dev: ['--listen', '--ready-timeout', '--drain-timeout', '--no-preload', '--watch', '--ignore'],
    run: ['--listen', '--workers', '--pid-file', '--ready-timeout', '--drain-timeout', '--shutdown-delay', '--control', '--no-preload'],
    status: ['--json', '--control', '--pid', '--pid-file'],
    reload: ['--wait', '--timeout', '--control', '--pid', '--pid-file']
  }
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string
    if (arg === '--') { options.command = rest.slice(i + 1); break }
    if (!arg.startsWith('-')) {
      if (name !== 'run' && name !== 'dev') fail(`reload ${name} takes no argument '${arg}'`)
      options.command = rest.slice(i)
      break
    }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    if (!allowed[name].includes(flag)) fail(`reload ${name} has no option ${flag}`)
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
      case '--control': options.control = target.control = resolve(value()); break
      case '--no-preload': options.preload = false; break
      case '--json': json = true; break
      case '--wait': wait = true; break
      case '--timeout': timeout = parseTime(flag, value()); break
      case '--pid': target.pid = pid(value()); break
      case '--watch': watch.push(resolve(value())); break
      case '--ignore': ignore.push(value()); break
    }
  }
  if (name === 'status') return { name, target, json }
  if (name === 'reload') return { name, target, wait, timeout }
  if (options.command.length === 0) fail(`reload ${name} needs a command to run, after --: reload ${name} --listen 3000 -- node server.js`)
  if (options.readyTimeout < 1) fail('--ready-timeout should be at least 1 ms')
  if (name === 'dev') return { name, options: { ...options, watch: watch.length > 0 ? watch : [process.cwd()], ignore } }
  return { name, options }
}
