import { debug } from './log.js'

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
  /** The socket on which this generation tells its parent it is ready, when it has a parent. */
  readyFd: number | undefined
  generation: number
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

const ourVars = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'RELOAD_READY_FD', 'RELOAD_GENERATION'] as const

/**
 * Reads the listeners this process was given (`sd_listen_fds(3)` semantics) and removes every variable
 * of the protocol from `env`, so that the app's own children never see them.
 */
export function takeInheritance (env: NodeJS.ProcessEnv = process.env, pid = process.pid): Inheritance {
  const vars = Object.fromEntries(ourVars.map((name) => [name, env[name]]))
  for (const name of ourVars) Reflect.deleteProperty(env, name)
  const none: Inheritance = { fds: [], readyFd: undefined, generation: 1 }
  if (vars.LISTEN_PID === undefined && vars.LISTEN_FDS === undefined) return none
  if (vars.LISTEN_PID !== String(pid)) {
    debug('ignoring LISTEN_FDS=%s: LISTEN_PID=%s is not this process (%d)', vars.LISTEN_FDS, vars.LISTEN_PID, pid)
    return none
  }
  const count = Number(vars.LISTEN_FDS ?? 0)
  if (!Number.isSafeInteger(count) || count < 0) {
    debug('ignoring LISTEN_FDS=%s: not a count', vars.LISTEN_FDS)
    return none
  }
  let names = vars.LISTEN_FDNAMES?.split(':') ?? []
  if (names.length !== count) names = Array.from({ length: count }, () => 'unknown')
  // systemd-socket-activate without --fdname passes an empty LISTEN_FDNAMES; systemd's own default is 'unknown'.
  names = names.map((name) => name === '' ? 'unknown' : name)
  const fds = names.map((name, i) => ({ fd: LISTEN_FDS_START + i, name, address: decodeName(name), claimed: false }))
  const readyFd = vars.RELOAD_READY_FD === undefined ? undefined : Number(vars.RELOAD_READY_FD)
  const generation = Number(vars.RELOAD_GENERATION ?? 1)
  return {
    fds,
    readyFd: Number.isSafeInteger(readyFd) && (readyFd as number) > 2 ? readyFd : undefined,
    generation: Number.isSafeInteger(generation) && generation > 0 ? generation : 1
  }
}

/** The variables that hand `names` over as fds 3, 4, … to a child (which sets `LISTEN_PID` itself). */
export function listenEnv (names: string[], readyFd: number, generation: number): Record<string, string> {
  return {
    LISTEN_FDS: String(names.length),
    LISTEN_FDNAMES: names.join(':'),
    RELOAD_READY_FD: String(readyFd),
    RELOAD_GENERATION: String(generation)
  }
}
