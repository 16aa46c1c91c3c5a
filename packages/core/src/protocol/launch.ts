// How this process was launched, read once when @reload/core is first imported: a new generation is
// started the way the first one was, not the way the app left process.argv and process.env since.
import { readFileSync, realpathSync } from 'node:fs'
import { basename, normalize } from 'node:path'
import { readInheritance } from './fds.js'
import { PROTOCOL_VARS } from './link.js'
import { debug } from '../log.js'

/** What the next generation runs: this Node.js binary, with the launch argv (after argv[0]) and environment. */
export interface LaunchCommand { file: string, args: string[], env: NodeJS.ProcessEnv }

/** The first generation's command line and environment, as the kernel keeps them (Linux). */
export interface Launch {
  /** `kernel`: /proc/self/cmdline and /proc/self/environ; `process`: no /proc, today's process.argv and process.env at each handover. */
  source: 'kernel' | 'process'
  /** Where the process was started (see {@link startCwd}), taken at import. */
  cwd: string
  /** The launch environment as it was, protocol variables included (what `RELOAD_KEEPER` says, for one). */
  rawEnv: Readonly<Record<string, string>>
  command: () => LaunchCommand
}

// The handover protocol's own variables (link.ts lists them; fds.ts reads and removes them): never passed on as they
// came in; the spawn adds the next generation's.
const protocol = new Set<string>(PROTOCOL_VARS)

/**
 * Where the process was started: `$PWD` when it is the current directory by another path (a `current`
 * symlink that a deploy moves, which process.cwd() resolved at start), else `process.cwd()`.
 */
export function startCwd (): string {
  const cwd = process.cwd()
  const pwd = process.env.PWD
  try {
    if (pwd !== undefined && pwd !== cwd && realpathSync(pwd) === cwd) return pwd
  } catch {}
  return cwd
}

/** NUL-separated strings (`/proc/<pid>/cmdline`, `/proc/<pid>/environ`), or undefined when it cannot be read. */
export function readNulList (path: string): string[] | undefined {
  try {
    const text = readFileSync(path).toString('utf8')
    if (text === '') return undefined
    const items = text.split('\0')
    if (items.at(-1) === '') items.pop()
    return items
  } catch (err) {
    debug('cannot read %s: %s', path, (err as Error).message)
    return undefined
  }
}

/** `NAME=value` entries as an environment; the first of two equal names wins, as with getenv(). */
export function parseEnviron (entries: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const entry of entries) {
    const eq = entry.indexOf('=')
    if (eq <= 0) continue
    const name = entry.slice(0, eq)
    if (!Object.hasOwn(env, name)) env[name] = entry.slice(eq + 1)
  }
  return env
}

/** `env` without the protocol's variables. */
export function withoutProtocol (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !protocol.has(name)))
}

/** Reads this process's launch command line and environment; on a system without /proc, falls back to process.argv and process.env at each call. */
export function readLaunch (proc = '/proc/self'): Launch {
  const cwd = startCwd()
  const argv = process.platform === 'linux' ? readNulList(`${proc}/cmdline`) : undefined
  const environ = argv === undefined ? undefined : readNulList(`${proc}/environ`) ?? []
  if (argv === undefined || argv.length === 0 || environ === undefined) {
    return {
      source: 'process',
      cwd,
      rawEnv: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
      // Read at each handover: what the app left in process.argv and process.env.
      command: () => ({ file: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)], env: withoutProtocol(process.env) })
    }
  }
  const args = argv.slice(1)
  const rawEnv = parseEnviron(environ)
  const env = withoutProtocol(rawEnv)
  debug('launch: %o in %s', args, cwd)
  return { source: 'kernel', cwd, rawEnv, command: () => ({ file: process.execPath, args: [...args], env: { ...env } }) }
}

/**
 * This process's launch. Its folder is taken when this module is first imported; its command line and
 * environment when first asked for (the kernel keeps them as they were at exec, whatever the app did since):
 * a keeper's worker, which never starts a generation, does not pay for reading them at start.
 */
export const launch: Launch = lazyLaunch()

function lazyLaunch (): Launch {
  const cwd = startCwd()
  let read: Launch | undefined
  const get = (): Launch => (read ??= { ...readLaunch(), cwd })
  return {
    cwd,
    get source () { return get().source },
    get rawEnv () { return get().rawEnv },
    command: () => get().command()
  }
}

const shells = new Set(['sh', 'bash', 'dash', 'zsh', 'ash', 'ksh'])

// Wrappers that start the server as their child, wait for it, and do not pass its sockets on.
const wrappers = new Map([['npm', 'npm'], ['npm-cli', 'npm'], ['npx', 'npx'], ['npx-cli', 'npx'], ['pnpm', 'pnpm'],
  ['yarn', 'yarn'], ['tsx', 'tsx'], ['ts-node', 'ts-node'], ['nodemon', 'nodemon']])

function wrapperName (argv: readonly string[]): string | undefined {
  const [first = '', second = ''] = argv
  const name = basename(first).replace(/\.(c|m)?js$/, '')
  if (wrappers.has(name)) return wrappers.get(name)
  // A wrapper started through its shebang: `node /…/npm-cli.js run start`, `node /…/tsx/dist/cli.mjs watch server.ts`.
  if (!/^(node|nodejs)$/.test(name) && first !== process.execPath) return undefined
  const script = basename(second).replace(/\.(c|m)?js$/, '')
  if (wrappers.has(script)) return wrappers.get(script)
  // `node_modules/tsx/dist/cli.mjs`: the package's folder names it.
  const segments = normalize(second).split('/')
  for (let i = 0; i < segments.length - 1; i++) {
    const next = wrappers.get(segments[i + 1] as string)
    if (segments[i] === 'node_modules' && next !== undefined) return next
  }
  return undefined
}

function parentOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    return Number.isSafeInteger(ppid) && ppid > 0 ? ppid : undefined
  } catch {
    return undefined
  }
}

/** The wrapper this process runs under (its parent, or the parent of the `sh -c` its parent ran), Linux only. */
export function findWrapper (ppid = process.ppid): { name: string, pid: number, command: string } | undefined {
  if (process.platform !== 'linux') return undefined
  let pid: number | undefined = ppid
  for (let hop = 0; hop < 2 && pid !== undefined && pid > 1; hop++) {
    let argv = readNulList(`/proc/${pid}/cmdline`)?.filter((arg) => arg !== '')
    if (argv === undefined) return undefined
    // A process that set its title (npm: `npm run start`) shows it as one string over its argv.
    if (argv.length === 1 && argv[0]?.includes(' ') === true) argv = argv[0].split(/\s+/)
    if (shells.has(basename(argv[0] ?? '')) && argv.includes('-c')) {
      pid = parentOf(pid)
      continue
    }
    const name = wrapperName(argv)
    return name === undefined ? undefined : { name, pid, command: argv.join(' ') }
  }
  return undefined
}

const fixes: Partial<Record<string, string>> = {
  npm: 'run `node server.js` directly, or put `reload run -- node server.js` in the package script',
  npx: 'run the server with `node` directly, or under `reload run`',
  pnpm: 'run `node server.js` directly, or put `reload run -- node server.js` in the package script',
  yarn: 'run `node server.js` directly, or put `reload run -- node server.js` in the package script',
  tsx: 'run `node --import tsx server.ts` (it reloads as is), or `reload dev -- node --import tsx server.ts` to develop',
  'ts-node': 'run `node --import tsx server.ts` (or node with ts-node\'s loader), not the ts-node command',
  nodemon: 'run `node server.js` directly, or `reload dev -- node server.js` in place of nodemon'
}

/**
 * The wrapper a command starts with (`npm start`, `npx …`, `node …/tsx/dist/cli.mjs …`), and what to run
 * instead: such a command starts the server as its own child, which does not get the listening sockets.
 */
export function commandWrapper (argv: readonly string[]): { name: string, fix: string } | undefined {
  const name = wrapperName(argv)
  return name === undefined ? undefined : { name, fix: fixes[name] ?? 'run the server with `node` directly' }
}

/** The `reload run` keeper whose worker process `pid` is, from the environment it started with; Linux only. */
export function keeperOf (pid: number): number | undefined {
  const environ = readNulList(`/proc/${pid}/environ`)
  return environ === undefined ? undefined : readInheritance(parseEnviron(environ), pid).keeper
}

/**
 * The warning for a first generation started under a wrapper that will neither pass its listening sockets
 * on nor outlive a handover; undefined when there is none, or under a `reload run` keeper.
 */
export function wrapperWarning (env: Readonly<Record<string, string | undefined>> = launch.rawEnv, ppid = process.ppid): { parent: number, message: string, keeper?: number } | undefined {
  if (env.RELOAD_KEEPER !== undefined) return undefined
  const wrapper = findWrapper(ppid)
  if (wrapper === undefined) return undefined
  const keeper = keeperOf(wrapper.pid)
  // The keeper's worker is the wrapper: this server never got the keeper's sockets, so whatever it
  // listens on gets no traffic, and the keeper would wait for a worker that never reports ready.
  if (keeper !== undefined) {
    return {
      parent: wrapper.pid,
      keeper,
      message: `this server was started by ${wrapper.name} (pid ${wrapper.pid}), which reload run (keeper pid ${keeper}) started as its worker; ` +
        `${wrapper.name} does not pass the keeper's sockets on, so this server would listen on a socket of its own that gets no traffic: not serving; ` +
        `${fixes[wrapper.name] ?? 'run the server with `node` directly'}`
    }
  }
  return {
    parent: wrapper.pid,
    message: `started by ${wrapper.name} (${wrapper.command.length > 120 ? `${wrapper.command.slice(0, 117)}...` : wrapper.command}), ` +
      `which waits for this process and exits with it: after a reload ${wrapper.name} exits (and whatever supervises it may stop the new generation); ` +
      `${fixes[wrapper.name] ?? 'run the server with `node` directly, or under `reload run`'}`
  }
}
