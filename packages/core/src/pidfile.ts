import { randomBytes } from 'node:crypto'
import { closeSync, constants, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/**
 * Writes this pid to `path` atomically, so a reader never sees a half-written file. The temporary file has
 * a name nobody can guess and is created only if nothing (a planted symlink included) is there yet.
 */
export function writePidFile (path: string, pid = process.pid): void {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(9).toString('base64url')}`)
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644)
  try {
    writeSync(fd, `${pid}\n`)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(temporary, path)
  } catch (err) {
    rmSync(temporary, { force: true })
    throw err
  }
}

/** Removes `path` if it still holds this pid: after a handover it holds the next generation's. */
export function removePidFile (path: string, pid = process.pid): boolean {
  try {
    if (readFileSync(path, 'utf8').trim() !== String(pid)) return false
    rmSync(path, { force: true })
    return true
  } catch {
    return false
  }
}
