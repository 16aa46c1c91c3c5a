import { debug } from '../log.js'
import { checkedNode } from '../node/internals.js'
import { inspectFds, type FdFact } from '../node/sockets.js'
import { PROTOCOL_VARS } from './link.js'

/** Where an inherited listener listens, decoded from its name. */
export type FdAddress =
  | { kind: 'tcp', host: string, port: number, anyPort: boolean }
  | { kind: 'unix', path: string }

/** A listener this generation was given: fd number, name, and whether a server took it yet. */
export interface InheritedFd {
  fd: number
  name: string
  address: FdAddress | undefined
  claimed: boolean
}

/** What the environment handed this generation, read once at start-up. */
export interface Inheritance {
  fds: InheritedFd[]
  /** What was wrong with what was handed over (each names the fd or variable, and what to do). */
  warnings: string[]
  /** The socket on which this generation tells its parent it is ready, when it has a parent. */
  readyFd: number | undefined
  generation: number
  /** The pid of the `reload run` keeper that started this process as one of its workers. */
  keeper: number | undefined
  /** How many workers that keeper runs on the same sockets (1 without a keeper). */
  workers: number
  /** The keeper accepts and hands connections over on Node's IPC channel: the worker must not accept itself. */
  handoff: boolean
  /** The Node whose internals the parent checked (checkedNode()). */
  checkedNode: string | undefined
}

/** systemd hands over fds starting at 3 (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3

// LISTEN_FDNAMES is colon-separated, so a name may hold no ':'; '-' separates our fields.
function escape (text: string): string {
  return text.replace(/[%:-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function unescape (text: string): string {
  return text.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

/** The fd name that carries `address` across a handover: `tcp-127.0.0.1-3000`, `tcp6-%3A%3A1-3000`, `unix-/run/app.sock`. */
export function encodeName (address: FdAddress): string {
  if (address.kind === 'unix') return `unix-${escape(address.path)}`
  const kind = address.host.includes(':') ? 'tcp6' : 'tcp'
  return `${kind}-${escape(address.host)}-${address.port}${address.anyPort ? '-any' : ''}`
}

/** The address in a name made by {@link encodeName}, or `undefined` for any other name (`unknown`, `http`, …). */
export function decodeName (name: string): FdAddress | undefined {
  if (name.startsWith('unix-') && name.length > 5) return { kind: 'unix', path: unescape(name.slice(5)) }
  const match = /^tcp6?-([^-]+)-(\d{1,5})(-any)?$/.exec(name)
  if (match === null) return undefined
  const port = Number(match[2])
  if (port > 65535) return undefined
  return { kind: 'tcp', host: unescape(match[1] as string), port, anyPort: match[3] !== undefined }
}

/** More than any real handover passes; a larger LISTEN_FDS is a mistake, not a list of fds to touch. */
export const MAX_LISTEN_FDS = 1024

const ourVars = PROTOCOL_VARS

type Vars = Partial<Record<typeof ourVars[number], string>>
// Shared by every copy of @reload/core in the process (the keeper's preload and the app's own).
const stashed = Symbol.for('@reload/core/protocol-vars')

/**
 * Takes the protocol's variables out of `process.env` now, for {@link takeInheritance} to read later: the
 * preload does it before the app's first line, so that neither the app (SvelteKit's adapter-node acts on
 * LISTEN_PID itself) nor its children see them.
 */
export function stashProtocolVars (): void {
  const holder = globalThis as { [stashed]?: Vars }
  if (holder[stashed] === undefined && ourVars.some((name) => process.env[name] !== undefined)) holder[stashed] = takeVars(process.env)
}

/** The protocol's variables in `env` (the stash, for `process.env`, once the preload took them), removed from it. */
function takeVars (env: NodeJS.ProcessEnv): Vars {
  const holder = globalThis as { [stashed]?: Vars }
  const stash = env === process.env ? holder[stashed] : undefined
  if (env === process.env) delete holder[stashed]
  const vars: Vars = stash ?? Object.fromEntries(ourVars.map((name) => [name, env[name]]))
  for (const name of ourVars) Reflect.deleteProperty(env, name)
  return vars
}

/**
 * Reads the listeners this process was given (`sd_listen_fds(3)` semantics), keeps those that are
 * listening sockets, and removes every variable of the protocol from `env`, so that the app's own
 * children never see them.
 */
export function takeInheritance (env: NodeJS.ProcessEnv = process.env, pid = process.pid): Inheritance {
  const read = readInheritance(env, pid)
  const { fds, warnings } = verify(read.fds, read.keeper !== undefined)
  return { ...read, fds, warnings: [...read.warnings, ...warnings] }
}

/** What the protocol's variables say, without looking at the fds; removes the variables from `env`. */
export function readInheritance (env: NodeJS.ProcessEnv, pid: number): Inheritance {
  const vars = takeVars(env)
  const none: Inheritance = { fds: [], warnings: [], readyFd: undefined, generation: 1, keeper: undefined, workers: 1, handoff: false, checkedNode: undefined }
  if (vars.LISTEN_PID === undefined && vars.LISTEN_FDS === undefined) return none
  if (vars.LISTEN_PID !== String(pid)) {
    debug('ignoring LISTEN_FDS=%s: LISTEN_PID=%s is not this process (%d)', vars.LISTEN_FDS, vars.LISTEN_PID, pid)
    return none
  }
  const count = Number(vars.LISTEN_FDS ?? 0)
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_LISTEN_FDS) {
    return { ...none, warnings: [`LISTEN_FDS=${vars.LISTEN_FDS} is not a count of fds (0 to ${MAX_LISTEN_FDS}): ignoring it and every fd it would name; set it to the number of listening sockets passed from fd 3`] }
  }
  let names = vars.LISTEN_FDNAMES?.split(':') ?? []
  if (names.length !== count) names = Array.from({ length: count }, () => 'unknown')
  // systemd-socket-activate without --fdname passes an empty LISTEN_FDNAMES; systemd's own default is 'unknown'.
  names = names.map((name) => name === '' ? 'unknown' : name)
  const fds = names.map((name, i) => ({ fd: LISTEN_FDS_START + i, name, address: decodeName(name), claimed: false }))
  const readyFd = vars.RELOAD_READY_FD === undefined ? undefined : Number(vars.RELOAD_READY_FD)
  const generation = Number(vars.RELOAD_GENERATION ?? 1)
  const keeper = Number(vars.RELOAD_KEEPER)
  const workers = Number(vars.RELOAD_WORKERS)
  return {
    // A keeper may be pid 1, in a container started without an init.
    keeper: Number.isSafeInteger(keeper) && keeper >= 1 ? keeper : undefined,
    workers: Number.isSafeInteger(keeper) && keeper >= 1 && Number.isSafeInteger(workers) && workers >= 1 ? workers : 1,
    handoff: Number.isSafeInteger(keeper) && keeper >= 1 && vars.RELOAD_HANDOFF === '1',
    checkedNode: vars.RELOAD_NODE_CHECKED,
    fds,
    warnings: [],
    readyFd: Number.isSafeInteger(readyFd) && (readyFd as number) > 2 ? readyFd : undefined,
    generation: Number.isSafeInteger(generation) && generation > 0 ? generation : 1
  }
}

/** The variables that hand `names` over as fds 3, 4, … to a child (which sets `LISTEN_PID` itself). */
export function listenEnv (names: string[], readyFd: number, generation: number): Record<string, string> {
  const checked = checkedNode()
  return {
    LISTEN_FDS: String(names.length),
    LISTEN_FDNAMES: names.join(':'),
    RELOAD_READY_FD: String(readyFd),
    RELOAD_GENERATION: String(generation),
    ...(checked === undefined ? {} : { RELOAD_NODE_CHECKED: checked })
  }
}

function describe (fact: FdFact): string {
  switch (fact.kind) {
    case 'tcp': return `${fact.host.includes(':') ? `[${fact.host}]` : fact.host}:${fact.port}`
    case 'unix': return 'a unix socket'
    default: return fact.kind
  }
}

/**
 * Keeps only the fds that are listening sockets (or, `fromKeeper`, bound ones a keeper names), so that reload never listens on, or later closes, an fd
 * that is not one (a file, a missing fd, Node's own event loop fd under a too-large LISTEN_FDS). Where the
 * kernel tells a socket's address, that address wins over its name.
 */
export function verify (given: InheritedFd[], fromKeeper = false): { fds: InheritedFd[], warnings: string[] } {
  // A keeper's sockets under names that say their address are the ones it bound (or systemd gave it, which
  // it checked): a worker only checks that each fd is a socket. Reading the kernel's tables for them cost
  // a first worker 20 to 100 ms: its sockets listen not yet, so they are found in none, after reading all.
  const named = fromKeeper && given.every((f) => f.address !== undefined)
  const facts = inspectFds(given.map((f) => f.fd), { tables: !named })
  const fds: InheritedFd[] = []
  const warnings: string[] = []
  const missing: Array<InheritedFd & { detail: string }> = []
  const fix = 'ignored; pass only listening sockets, from fd 3 on, and set LISTEN_FDS to their count'
  for (const fd of given) {
    const fact = facts.get(fd.fd) as FdFact
    const what = `LISTEN_FDS: fd ${fd.fd} (${fd.name})`
    if (fact.kind === 'missing') {
      missing.push({ ...fd, detail: fact.detail })
      continue
    }
    if (fact.kind === 'not a socket') {
      warnings.push(`${what} is ${fact.detail}: ${fix}`)
      continue
    }
    if ((fact.kind === 'tcp' || fact.kind === 'unix') && !fact.listening && !fact.bound) {
      warnings.push(`${what} is a ${fact.kind} socket that does not listen (${describe(fact)}): ignored; pass listening sockets only`)
      continue
    }
    if (fact.kind === 'other socket') {
      // A TCP socket that is bound but listens not yet is in none of the kernel's tables: `reload run`
      // hands such sockets to its first workers, under names that say their address.
      if (fact.known && !(fromKeeper && fd.address?.kind === 'tcp')) {
        warnings.push(`${what} is neither a TCP nor a unix stream socket: ignored; reload hands over TCP and unix listeners`)
        continue
      }
      fds.push(fd)
      continue
    }
    // A unix socket's path in the kernel's table is the one it was bound at, and reload binds under a
    // temporary name that it then renames: only its name tells where it lives now.
    if (fact.kind === 'unix') {
      fds.push(fd)
      continue
    }
    const real: FdAddress = { kind: 'tcp', host: fact.host, port: fact.port, anyPort: fd.address?.kind === 'tcp' && fd.address.anyPort }
    if (fd.address !== undefined && encodeName(real) !== encodeName(fd.address)) {
      warnings.push(`${what} listens on ${describe(fact)}, not where its name says: going by its address`)
      fds.push({ ...fd, name: encodeName(real), address: real })
      continue
    }
    fds.push(fd)
  }
  // A LISTEN_FDS far too large names hundreds of fds that are not open: one line says it.
  const [first] = missing
  if (missing.length === 1 && first !== undefined) warnings.push(`LISTEN_FDS: fd ${first.fd} (${first.name}) is not open (${first.detail}): ${fix}`)
  if (missing.length > 1 && first !== undefined) warnings.push(`LISTEN_FDS: ${missing.length} fds are not open (${first.detail}), ${ranges(missing.map((f) => f.fd))}: ${fix}`)
  return { fds, warnings }
}

function ranges (numbers: number[]): string {
  const parts: string[] = []
  for (let i = 0; i < numbers.length; i++) {
    const start = numbers[i] as number
    while (numbers[i + 1] === (numbers[i] as number) + 1) i++
    parts.push(numbers[i] === start ? `fd ${start}` : `fds ${start}-${numbers[i] as number}`)
  }
  return parts.join(', ')
}
