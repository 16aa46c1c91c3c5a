import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** Writes this pid to `path` atomically, so a reader never sees a half-written file. */
export function writePidFile (path: string, pid = process.pid): void {
  const temporary = join(dirname(path), `.${basename(path)}.${pid}.tmp`)
  writeFileSync(temporary, `${pid}\n`)
  renameSync(temporary, path)
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
