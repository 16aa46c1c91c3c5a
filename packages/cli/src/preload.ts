import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir, tmpdir } from 'node:os'
import { delimiter, dirname, isAbsolute, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { unsafe } from './control/dir.js'

// The keeper's own copy of the preload, for an app that has no @reload/core of its own. Resolved as require()
// does: the CommonJS entry (dist/register.cjs).
const ownRegister = createRequire(import.meta.url).resolve('@reload/core/register')

/**
 * The preload's file for a worker started in `cwd`: the app's own @reload/core (a new release brings its own,
 * and the old release may be deleted), else the keeper's.
 */
export function register (cwd: string): string {
  let path = ownRegister
  // Resolved from the real folder: Node caches a resolution by the path asked from, which a moved
  // `current` symlink keeps.
  try { path = createRequire(join(realpathSync(cwd), 'package.json')).resolve('@reload/core/register') } catch {}
  return path
}

/**
 * The NODE_OPTIONS word that preloads `file`: `--require` for the CommonJS entry, which spares a CommonJS app
 * Node's ES module loader at start (9 ms of a worker's start on Node 20); `--import` for an ES module (the
 * entry of an app's own @reload/core from before the CommonJS one), and where the preload must run after the
 * `--import`s before it: Node runs every `--require` first.
 */
export function preloadOption (file: string, after: 'imports' | 'any' = 'any'): string {
  if (!file.endsWith('.cjs') || after === 'imports') return `--import=${pathToFileURL(file).href}`
  // Node reads NODE_OPTIONS as words parted by spaces; a double-quoted word may hold spaces.
  return /[\s"\\]/.test(file) ? `--require="${file.replace(/["\\]/g, '\\$&')}"` : `--require=${file}`
}

// pnpm's bin shim (node_modules/.bin/reload) prepends its virtual store, <root>/node_modules/.pnpm/node_modules,
// to NODE_PATH for reload's own sake: passed on, it would let an app resolve packages under the keeper that
// it cannot resolve alone.
function withoutPnpmStore (nodePath: string | undefined): string | undefined {
  if (nodePath === undefined) return undefined
  const kept = nodePath.split(delimiter).filter((dir) => dir !== '' && !/[\\/]node_modules[\\/]\.pnpm[\\/]node_modules[\\/]?$/.test(dir))
  return kept.length === 0 ? undefined : kept.join(delimiter)
}

let compileCache: string | undefined

function isRunning (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

// The PID namespace this keeper sees pids in (the inode of /proc/self/ns/pid), or undefined where Linux does
// not say. A pid is only known dead within its own namespace: a keeper in a container that shares $TMPDIR
// with the host (or with another container) cannot see the other keepers, and must not take them for gone.
function pidNamespace (): string | undefined {
  try { return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] } catch { return undefined }
}

// A keeper killed with SIGKILL (a container stopped after its grace, the OOM killer, a test's clean-up) leaves
// its folder: the next keeper of the same user in the same PID namespace removes those whose keeper is gone.
function removeOrphans (dir: string, namespace: string): void {
  let names: string[]
  try { names = readdirSync(dir) } catch { return }
  for (const name of names) {
    const match = /^reload-cache-(\d+)-(\d+)-[A-Za-z0-9]{6}$/.exec(name)
    if (match === null || match[1] !== namespace || isRunning(Number(match[2]))) continue
    const path = join(dir, name)
    try {
      const stat = lstatSync(path)
      if (stat.isDirectory() && stat.uid === process.getuid?.()) rmSync(path, { recursive: true, force: true })
    } catch {}
  }
}

// The user's own cache folder for reload: systemd's CacheDirectory= of the service, else $XDG_CACHE_HOME, else
// ~/.cache. The compile cache goes in `reload/compile` there, in a folder only this user can open: what Node
// reads from it runs as this user's code.
function userCacheDir (): string | undefined {
  const service = process.env.CACHE_DIRECTORY?.split(':')[0]
  const xdg = process.env.XDG_CACHE_HOME
  let base: string | undefined
  if (service !== undefined && isAbsolute(service)) base = service
  else if (xdg !== undefined && isAbsolute(xdg)) base = xdg
  else {
    let home = ''
    try { home = homedir() } catch {}
    if (isAbsolute(home)) base = join(home, '.cache')
  }
  if (base === undefined) return undefined
  const compile = join(base, 'reload', 'compile')
  for (const dir of [dirname(compile), compile]) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      if (unsafe(dir, lstatSync(dir)) !== undefined) return undefined
    } catch {
      return undefined
    }
  }
  return compile
}

/** Files of the cache older than this are removed when a keeper starts: a release's files that no worker runs any more. */
const CACHE_AGE = 30 * 24 * 3600 * 1000

// Node keys a cache entry by the file's path, so each release directory adds its own: what no worker wrote for
// a month goes, once the first worker has had time to start.
async function prune (dir: string): Promise<void> {
  // Loaded here, seconds after the start: as an import, node:fs/promises cost a keeper 3 ms before its first worker.
  const { readdir, stat, unlink } = process.getBuiltinModule('node:fs/promises')
  const before = Date.now() - CACHE_AGE
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    try { if ((await stat(path)).mtimeMs < before) await unlink(path) } catch {}
  }
}

/**
 * The folder of Node's compile cache for this keeper's workers: the user's `reload/compile` cache folder
 * (see {@link userCacheDir}), kept from one keeper to the next so that a keeper's first worker reads what the
 * workers of the one before compiled; else, where the user has no cache folder of their own, a fresh one of
 * this keeper's (`$TMPDIR/reload-cache-<pid namespace>-<keeper pid>-XXXXXX`), removed when it exits.
 * Undefined when neither can be made. Workers on Node 22.1 and later give it to Node; on Node 20 the preload
 * keeps V8's code cache of its own reloader there.
 */
export function compileCacheDir (): string | undefined {
  if (compileCache !== undefined) return compileCache
  const kept = userCacheDir()
  if (kept !== undefined) {
    compileCache = kept
    setTimeout(() => { prune(kept).catch(() => {}) }, 2000).unref()
    return kept
  }
  const namespace = pidNamespace()
  if (namespace !== undefined) removeOrphans(tmpdir(), namespace)
  try { compileCache = mkdtempSync(join(tmpdir(), `reload-cache-${namespace ?? 0}-${process.pid}-`)) } catch { return undefined }
  const dir = compileCache
  process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/**
 * A worker's environment: the keeper's, the keeper's pid and worker count, its drain budget unless set, and the
 * preload with the keeper's compile cache (the preload takes it on Node 22.1 and later).
 */
export function workerEnv (options: { drainTimeout: number, preload: boolean, workers?: number }, cwd: string, keeper = process.pid): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RELOAD_KEEPER: String(keeper), RELOAD_WORKERS: String(options.workers ?? 1) }
  const nodePath = withoutPnpmStore(env.NODE_PATH)
  if (nodePath === undefined) Reflect.deleteProperty(env, 'NODE_PATH')
  else env.NODE_PATH = nodePath
  // The worker's own drain budget is the keeper's, unless its code sets one.
  env.RELOAD_DRAIN_TIMEOUT ??= String(options.drainTimeout)
  if (!options.preload) return env
  // `reload dev`'s waiting worker reads the protocol's variables in its own --import, before the preload takes them.
  env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} ${preloadOption(register(cwd), env.RELOAD_DEV_SPARE === undefined ? 'any' : 'imports')}`.trim()
  // A cache the user set (or turned off) is theirs to keep.
  if (env.NODE_COMPILE_CACHE === undefined && env.NODE_DISABLE_COMPILE_CACHE === undefined) {
    const dir = compileCacheDir()
    if (dir !== undefined) env.RELOAD_COMPILE_CACHE = dir
  }
  return env
}
