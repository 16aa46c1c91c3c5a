import { statSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname } from 'node:path'
import { bindSocket, encodeName, isStaleSocket, removeSocket, takeInheritance, type BoundSocket } from '@reload/core/keeper'
import { CliError } from './errors.js'
import type { Address } from './args.js'
import { MAX_SOCKET_PATH } from './values.js'

/** A listening socket the keeper holds for its whole life, and the name its workers know it by. */
export interface Held {
  fd: number
  name: string
  /** How the operator reads it: `127.0.0.1:3000`, `[::]:3000`, `unix:/run/app.sock`. */
  label: string
  close: () => void
}

function label (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

function listenError (address: string, err: NodeJS.ErrnoException): CliError {
  const hint = err.code === 'EADDRINUSE'
    ? 'another process listens there (an old keeper or server still running?): stop it, or choose another address'
    : err.code === 'EACCES'
      ? 'this user may not bind there (ports below 1024 need privileges): choose another port, or use systemd socket activation'
      : err.code === 'EADDRNOTAVAIL'
        ? 'no network interface of this machine has that address'
        : 'check the address'
  return new CliError('ERR_RELOAD_LISTEN', `cannot listen on ${address} (${err.code ?? err.message}): ${hint}`, { cause: err })
}

// libuv reports a unix socket's missing folder as EACCES too: the folder itself tells which it is.
function unixError (path: string, err: NodeJS.ErrnoException): CliError {
  const address = `unix:${path}`
  const folder = dirname(path)
  let hint: string | undefined
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    hint = `the path is ${Buffer.byteLength(path)} bytes, over the ${MAX_SOCKET_PATH} a unix socket path can have: choose a shorter path`
  } else if (err.code === 'EACCES' || err.code === 'ENOENT' || err.code === 'ENOTDIR') {
    try {
      hint = statSync(folder).isDirectory()
        ? `this user may not create a socket in the folder ${folder}: choose a folder it can write to, or give it write access to that one`
        : `${folder} is not a folder: choose another path`
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code
      hint = code === 'ENOENT' || code === 'ENOTDIR'
        ? `the folder ${folder} does not exist: create it first`
        : `this user may not reach the folder ${folder} (${code ?? 'error'}): choose a folder it can write to`
    }
  } else if (err.code === 'EADDRINUSE') {
    hint = 'something is already at that path (a socket another process listens on, or a file): stop that process, or choose another path'
  }
  if (hint === undefined) return listenError(address, err)
  return new CliError('ERR_RELOAD_LISTEN', `cannot listen on ${address} (${err.code ?? err.message}): ${hint}`, { cause: err })
}

function once (fn: () => void): () => void {
  let done = false
  return () => {
    if (done) return
    done = true
    fn()
  }
}

function isStale (path: string): Promise<boolean> {
  return new Promise((resolve) => { isStaleSocket(path, resolve) })
}

async function bindTcp (address: Extract<Address, { kind: 'tcp' }>): Promise<Held> {
  let host = address.host
  if (host !== undefined && isIP(host) === 0) {
    try {
      // Only a name needs the resolver: as an import, node:dns/promises cost every keeper's start 1 ms.
      host = (await process.getBuiltinModule('node:dns/promises').lookup(host)).address
    } catch (err) {
      throw listenError(`${address.host}:${address.port}`, err as NodeJS.ErrnoException)
    }
  }
  // Like server.listen(port): every address, IPv6 and IPv4 both where the machine has IPv6.
  const tries = host === undefined ? ['::', '0.0.0.0'] : [host]
  let socket: BoundSocket | undefined
  let last: NodeJS.ErrnoException | undefined
  let bound = ''
  for (const candidate of tries) {
    try {
      socket = bindSocket(candidate, address.port, isIP(candidate) === 6 ? 6 : 4)
      bound = candidate
      break
    } catch (err) {
      last = err as NodeJS.ErrnoException
      if (last.code !== 'EAFNOSUPPORT' && last.code !== 'EADDRNOTAVAIL') break
    }
  }
  if (socket === undefined) throw listenError(`${address.host ?? ''}:${address.port}`, last as NodeJS.ErrnoException)
  const port = socket.port
  const name = encodeName({ kind: 'tcp', host: bound, port, anyPort: address.port === 0 })
  return { fd: socket.fd, name, label: label(bound, port), close: once(socket.close) }
}

async function bindUnix (path: string): Promise<Held> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw unixError(path, Object.assign(new Error('ENAMETOOLONG'), { code: 'ENAMETOOLONG' }))
  if (await isStale(path)) removeSocket(path)
  try {
    const socket = bindSocket(path, -1, -1)
    const name = encodeName({ kind: 'unix', path })
    return { fd: socket.fd, name, label: `unix:${path}`, close: once(socket.close) }
  } catch (err) {
    throw unixError(path, err as NodeJS.ErrnoException)
  }
}

/**
 * Binds every `--listen` address (without accepting: the workers do), and adds the listeners systemd
 * passed to the keeper itself.
 * @throws {ReloadError} `ERR_RELOAD_LISTEN` naming the address that failed; what was bound is closed.
 */
export async function holdListeners (addresses: Address[]): Promise<{ held: Held[], warnings: string[] }> {
  const inheritance = takeInheritance()
  const held: Held[] = inheritance.fds.map((fd) => ({
    fd: fd.fd,
    name: fd.name,
    label: fd.address === undefined ? `fd ${fd.fd} (${fd.name})` : fd.address.kind === 'unix' ? `unix:${fd.address.path}` : label(fd.address.host, fd.address.port),
    close: () => {}
  }))
  try {
    for (const address of addresses) held.push(address.kind === 'unix' ? await bindUnix(address.path) : await bindTcp(address))
  } catch (err) {
    for (const h of held) h.close()
    throw err
  }
  return { held, warnings: inheritance.warnings }
}
