import { connect, type Server } from 'node:net'
import { lstatSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ReloadError } from '../errors.js'
import { crypto } from '../node/lazy.js'

/**
 * A name next to `path` to bind to first. libuv unlinks a bound path when its handle closes, which would
 * pull the socket out from under the next generation at handover; bound under this name and renamed, the
 * handle keeps only this name, and the rename also replaces a stale socket file in one step.
 */
export function temporaryPath (path: string): string {
  return join(dirname(path), `.${basename(path).slice(0, 40)}.${crypto().randomBytes(6).toString('base64url')}`)
}

/**
 * Renames a unix socket bound at `temporary` to `path`, so that the path never lacks a listener.
 * A failure here happens inside the 'listening' event: it becomes the server's 'error', as a failed
 * bind would, rather than an exception thrown out of some other listener.
 */
export function moveIntoPlace (server: Server, temporary: string, path: string, settle: (err: Error) => void): boolean {
  try {
    renameSync(temporary, path)
    return true
  } catch (cause) {
    const err = new ReloadError('ERR_RELOAD_SOCKET_PATH',
      `could not put the unix socket at ${path} (${(cause as Error).message}); check that its folder is writable and nothing else is at that path`,
      { cause })
    rmSync(temporary, { force: true })
    server.close()
    settle(err)
    process.nextTick(() => server.emit('error', err))
    return false
  }
}

/** Removes the unix socket at `path`, if a socket is what is there. */
export function removeSocket (path: string): void {
  try {
    if (!path.startsWith('\0') && statSync(path).isSocket()) rmSync(path)
  } catch {}
}

/**
 * Whether `path` is a socket file nothing accepts on: what a process killed with SIGKILL leaves behind.
 * A live socket, or anything that is not a socket, is left for bind to refuse (EADDRINUSE).
 */
export function isStaleSocket (path: string, done: (stale: boolean) => void): void {
  try {
    if (!lstatSync(path).isSocket()) { done(false); return }
  } catch {
    done(false)
    return
  }
  const probe = connect(path)
  probe.once('connect', () => { probe.destroy(); done(false) })
  probe.once('error', (err: NodeJS.ErrnoException) => { probe.destroy(); done(err.code === 'ECONNREFUSED') })
}
