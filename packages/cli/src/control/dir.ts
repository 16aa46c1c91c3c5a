import { lstatSync, mkdirSync, mkdtempSync, readdirSync, statSync, type Stats } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { CliError } from '../errors.js'

// Where control sockets live: the folder a keeper makes (or takes) for its own, and every folder
// `reload status` and `reload reload` look in.

function uid (): number { return process.getuid?.() ?? 0 }

/** Why `dir` may not hold control sockets, or undefined: a real folder of this user that only it can open. */
export function unsafe (dir: string, stat: Stats): string | undefined {
  if (stat.isSymbolicLink()) return `${dir} is a symlink`
  if (!stat.isDirectory()) return `${dir} is not a folder`
  if (stat.uid !== uid()) return `${dir} belongs to uid ${stat.uid}, not to this user (uid ${uid()})`
  if ((stat.mode & 0o077) !== 0) return `${dir} can be opened by other users (mode ${(stat.mode & 0o777).toString(8)}; it must be 700)`
  return undefined
}

/**
 * The folders a control socket may be in, in order: `$XDG_RUNTIME_DIR/reload` (when that folder is this
 * user's: an inherited one may not be), then `$TMPDIR/reload-UID`. Another local user can make the
 * second one first, so neither is certain; see {@link makeControlDir}.
 */
function fixedDirs (): { dirs: string[], notes: string[] } {
  const dirs: string[] = []
  const notes: string[] = []
  const runtime = process.env.XDG_RUNTIME_DIR
  if (runtime !== undefined && runtime !== '') {
    let why: string | undefined
    try {
      const stat = statSync(runtime)
      if (!isAbsolute(runtime)) why = 'is not an absolute path'
      else if (!stat.isDirectory()) why = 'is not a folder'
      else if (stat.uid !== uid()) why = `belongs to uid ${stat.uid}, not to this user (uid ${uid()})`
    } catch (err) {
      why = `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`
    }
    if (why === undefined) dirs.push(join(runtime, 'reload'))
    else notes.push(`XDG_RUNTIME_DIR=${runtime} ${why}: not used`)
  }
  dirs.push(join(tmpdir(), `reload-${uid()}`))
  return { dirs, notes }
}

// mkdtemp's six random characters.
export function isTemporaryName (name: string): boolean {
  return name.startsWith(`reload-${uid()}-`) && /^[A-Za-z0-9]{6}$/.test(name.slice(`reload-${uid()}-`.length))
}

export interface ControlDir {
  dir: string
  /** A fresh folder of this keeper's own, to remove at exit. */
  temporary: boolean
  /** Folders passed over, and why: for the keeper's log. */
  warnings: string[]
}

/**
 * A folder for this keeper's control socket that only this user can open: the first of the usual ones
 * that is (or can be made) so, else a fresh private one in $TMPDIR, which `reload status` finds as well.
 * A folder someone else made is passed over, never an error.
 * @throws {ReloadError} `ERR_RELOAD_CONTROL`, naming each folder tried, when no folder can be made at all.
 */
export function makeControlDir (): ControlDir {
  const { dirs, notes } = fixedDirs()
  const warnings = [...notes]
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { mode: 0o700 })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') {
        warnings.push(`cannot create ${dir} (${code ?? (err as Error).message}): not used`)
        continue
      }
    }
    let why: string | undefined
    try {
      why = unsafe(dir, lstatSync(dir))
    } catch (err) {
      why = `cannot read ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`
    }
    if (why === undefined) return { dir, temporary: false, warnings }
    warnings.push(`${why}: not used (remove it to have it used again)`)
  }
  const prefix = join(tmpdir(), `reload-${uid()}-`)
  try {
    return { dir: mkdtempSync(prefix), temporary: true, warnings }
  } catch (err) {
    const tried = [...warnings, `cannot create ${prefix}XXXXXX (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]
    throw new CliError('ERR_RELOAD_CONTROL', `no folder for the control socket: ${tried.join('; ')}; make $TMPDIR (${tmpdir()}) writable by this user, or pass --control PATH`, { cause: err })
  }
}

/**
 * Every folder `reload status` looks in: the usual ones and the fresh ones keepers made in $TMPDIR, each
 * only if it is a real folder of this user that no one else can open. `skipped` says why a usual one
 * was passed over.
 */
export function searchDirs (): { dirs: string[], skipped: string[] } {
  const { dirs: fixed, notes } = fixedDirs()
  let fresh: string[] = []
  try { fresh = readdirSync(tmpdir()).filter(isTemporaryName).sort().map((name) => join(tmpdir(), name)) } catch {}
  const dirs: string[] = []
  const skipped = [...notes]
  for (const dir of [...fixed, ...fresh]) {
    let why: string | undefined
    try {
      why = unsafe(dir, lstatSync(dir))
    } catch {
      continue
    }
    if (why === undefined) dirs.push(dir)
    else if (fixed.includes(dir)) skipped.push(why)
  }
  return { dirs, skipped }
}
