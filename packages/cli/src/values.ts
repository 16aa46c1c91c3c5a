import { resolve } from 'node:path'
import type { Address } from './args.js'
import { CliError } from './errors.js'

/** A usage error: exit code 2, and a pointer to the help. */
export function fail (message: string): never {
  throw new CliError('ERR_RELOAD_USAGE', `${message}; see \`reload --help\``)
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

/**
 * The longest unix socket path: Linux's sun_path is 108 bytes, with the NUL that ends it. A longer one is
 * bound cut short, somewhere nobody looks.
 */
export const MAX_SOCKET_PATH = 107

export function socketPath (flag: string, text: string, path: string): string {
  const bytes = Buffer.byteLength(path)
  if (bytes > MAX_SOCKET_PATH) {
    fail(`${flag} ${text}: the socket path ${path} is ${bytes} bytes, over the ${MAX_SOCKET_PATH} a unix socket path can have; choose a shorter path (a relative one counts from the current folder)`)
  }
  return path
}

// Off is a value: a debugger paused at a breakpoint stops the event loop as surely as a hang does.
export function livenessTimeout (text: string | undefined): number {
  if (text === 'off') return Infinity
  const ms = parseTime('--liveness-timeout', text)
  if (ms === 0) fail('--liveness-timeout 0 would replace every worker at once: to turn the check off, say --liveness-timeout off')
  // A garbage collection or a busy tick can hold the loop that long; a worker is not stuck for that.
  if (ms < 100) fail(`--liveness-timeout should be at least 100 ms, instead got '${text ?? ''}'; to turn the check off, say off`)
  return ms
}

const units: Record<string, number> = { '': 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 }
const MIN_MEMORY = 16 * 1024 ** 2

/** Bytes from `536870912`, `512M`, `512MiB`, `1.5G` (1024-based), or undefined for `off`. */
export function parseSize (name: string, text: string | undefined): number | undefined {
  if (text === undefined) fail(`${name} needs a value`)
  if (text === 'off') return undefined
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  const unit = match === null ? undefined : units[(match[2] as string).toLowerCase()]
  if (match === null || unit === undefined) fail(`${name} should be a size such as 536870912, 512M or 2G, or off, instead got '${text}'`)
  const bytes = Math.round(Number(match[1]) * unit)
  // Node alone takes about that much before the app loads anything.
  if (bytes < MIN_MEMORY) fail(`${name} ${text} is under 16M, less than a Node worker needs to start; give more, or off`)
  return bytes
}

export function parsePort (text: string, address: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) fail(`--listen ${address}: '${text}' is not a port (0 to 65535)`)
  return Number(text)
}

/** `3000`, `127.0.0.1:3000`, `localhost:3000`, `[::1]:3000`, `unix:/run/app.sock`. */
export function parseAddress (text: string): Address {
  if (text.startsWith('unix:')) {
    const path = text.slice(5)
    if (path === '') fail(`--listen ${text}: give the socket's path, as unix:/run/app.sock`)
    return { kind: 'unix', path: socketPath('--listen', text, resolve(path)) }
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

// Port 0 is a new port each time, so two of them are two addresses.
export function duplicates (addresses: Address[]): void {
  const seen = new Set<string>()
  for (const address of addresses) {
    if (address.kind === 'tcp' && address.port === 0) continue
    const key = address.kind === 'unix' ? `unix:${address.path}` : `${address.host === undefined ? '' : address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
    if (seen.has(key)) fail(`--listen ${key.startsWith(':') ? key.slice(1) : key} is given twice: give each address once`)
    seen.add(key)
  }
}

export function positiveInteger (name: string, text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1024) fail(`${name} should be a whole number from 1 to 1024, instead got '${text ?? ''}'`)
  return Number(text)
}

// Pid 1 is allowed: a keeper started as a container's first process has it.
export function pid (text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1) {
    fail(`--pid should be a process id (the keeper's: its log says \`keeper pid N\`), instead got '${text ?? ''}'; with one keeper running, leave --pid out`)
  }
  return Number(text)
}

/** `--metrics`: a TCP address of the keeper's own (`9100`, `127.0.0.1:9100`, `[::1]:9100`). */
export function metricsAddress (text: string): Extract<Address, { kind: 'tcp' }> {
  const address = parseAddress(text)
  if (address.kind !== 'tcp') fail(`--metrics ${text}: give a TCP address (PORT or HOST:PORT); Prometheus scrapes over HTTP`)
  return address
}
