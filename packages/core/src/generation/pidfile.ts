import { closeSync, constants, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ReloadError } from '../errors.js'
import { crypto } from '../node/lazy.js'

export interface PidFileOptions {
  /**
   * Refuse to replace a file that holds the pid of another live process whose command line matches: a
   * second keeper started by mistake must not take the pid file of the one that runs.
   */
  unlessHeldBy?: RegExp
}

/**
 * The pid in `path` when it is a live process other than `self` whose command line matches `pattern`
 * (or whose command line cannot be read); undefined for no file, a dead pid or an unrelated process.
 */
export function pidFileOwner (path: string, pattern: RegExp, self = process.pid): { pid: number, command: string } | undefined {
  let text: string
  try { text = readFileSync(path, 'utf8').trim() } catch { return undefined }
  if (!/^\d+$/.test(text)) return undefined
  const pid = Number(text)
  if (pid === self || pid < 1) return undefined
  try {
    process.kill(pid, 0)
  } catch (err) {
    // EPERM: it runs, as another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined
  }
  let command: string
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    // Without /proc there is no telling: a live keeper's file is worth more than a stale one.
    return { pid, command: 'its command line cannot be read' }
  }
  // A zombie has no command line: it is as good as gone.
  return command !== '' && pattern.test(command) ? { pid, command } : undefined
}

/**
 * Writes this pid to `path` atomically, so a reader never sees a half-written file. The temporary file has
 * a name nobody can guess and is created only if nothing (a planted symlink included) is there yet, and is
 * gone again whatever fails (a full disk included).
 * @throws {ReloadError} `ERR_RELOAD_PID_FILE` when `unlessHeldBy` matches the live process the file names.
 */
export function writePidFile (path: string, pid = process.pid, { unlessHeldBy }: PidFileOptions = {}): void {
  if (unlessHeldBy !== undefined) {
    const owner = pidFileOwner(path, unlessHeldBy, pid)
    if (owner !== undefined) {
      throw new ReloadError('ERR_RELOAD_PID_FILE', `the pid file ${path} belongs to pid ${owner.pid}, which still runs (${owner.command}): ` +
        'stop that one first, or choose another pid file')
    }
  }
  const temporary = join(dirname(path), `.${basename(path)}.${crypto().randomBytes(9).toString('base64url')}`)
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644)
  try {
    const text = `${pid}\n`
    try {
      if (writeSync(fd, text) !== Buffer.byteLength(text)) throw Object.assign(new Error(`ENOSPC: short write to ${temporary}`), { code: 'ENOSPC' })
    } finally {
      closeSync(fd)
    }
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
