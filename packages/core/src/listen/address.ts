import { SocketAddress, isIP, type ListenOptions } from 'node:net'
import { resolve } from 'node:path'
import type { FdAddress } from '../protocol/fds.js'
import { isHandle } from '../node/internals.js'

/** `server.listen()` options, plus the name of an inherited fd to take (systemd `FileDescriptorName=`). */
export type ReloadListenOptions = ListenOptions & { fdName?: string }

/** A `listen()` call read the way Node reads it. */
export interface Call {
  options: ReloadListenOptions
  callback: (() => void) | undefined
  /** A handle, or an fd the app opened itself: listened on as given, still handed over. */
  passthrough: boolean
}

/** The address a `listen()` asks for: TCP hosts (none yet for a name still to resolve) and a port, or a unix path. */
export type Target = { kind: 'tcp', hosts: string[], port: number } | { kind: 'unix', path: string }

// Node treats a string that is a number as a port, and any other string as a pipe path.
function isPort (value: unknown): boolean {
  return typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
}

/** Reads `listen()` arguments the way `net.Server.listen` does. */
export function normalizeListenArgs (args: unknown[]): Call {
  const rest = [...args]
  const callback = typeof rest.at(-1) === 'function' ? rest.pop() as () => void : undefined
  const [first, second, third] = rest
  if (first !== null && typeof first === 'object') {
    const o = first as Record<string, unknown>
    if (isHandle(o) || o.fd !== undefined || o.handle !== undefined) return { options: o as ReloadListenOptions, callback, passthrough: true }
    return { options: { ...o } as ReloadListenOptions, callback, passthrough: false }
  }
  if (typeof first === 'string' && !isPort(first)) {
    return { options: { path: first, backlog: second as number | undefined }, callback, passthrough: false }
  }
  const options: ReloadListenOptions = { port: first === undefined || first === null ? 0 : Number(first) }
  if (typeof second === 'string') {
    options.host = second
    if (typeof third === 'number') options.backlog = third
  } else if (typeof second === 'number') {
    options.backlog = second
  }
  return { options, callback, passthrough: false }
}

export function canonicalIp (host: string): string {
  const family = isIP(host)
  // Node's IPv4 form has no leading zeros, so what isIP() accepts is already written one way only; SocketAddress
  // costs a worker's first listen() a module load and a validation.
  if (family !== 6) return host
  return new SocketAddress({ address: host, family: 'ipv6' }).address
}

/** Whether an inherited socket's address is the one a `listen()` asks for. */
export function matches (address: FdAddress | undefined, target: Target): boolean {
  if (address === undefined) return false
  if (address.kind === 'unix') return target.kind === 'unix' && address.path === target.path
  if (target.kind === 'unix') return false
  return target.hosts.includes(address.host) && (target.port === 0 ? address.anyPort : address.port === target.port)
}

/** Where a `listen()` with `options` asks to listen; undefined when it gives no address reload can match. */
export function targetOf (options: ListenOptions): Target | undefined {
  if (typeof options.path === 'string') {
    // An abstract socket has no file to keep; hand it over all the same, by name.
    return { kind: 'unix', path: options.path.startsWith('\0') ? options.path : resolve(options.path) }
  }
  if (!isPort(options.port) && options.port !== undefined) return undefined
  const port = Number(options.port ?? 0)
  const host = options.host
  if (host === undefined || host === '') return { kind: 'tcp', hosts: ['::', '0.0.0.0'], port }
  if (isIP(host) !== 0) return { kind: 'tcp', hosts: [canonicalIp(host)], port }
  return { kind: 'tcp', hosts: [], port }
}
