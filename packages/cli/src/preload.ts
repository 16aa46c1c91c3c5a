import { lstatSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

// The keeper's own copy of the preload, for an app that has no @reload/core of its own.
const ownRegister = fileURLToPath(import.meta.resolve('@reload/core/register'))

/**
 * The preload for a worker started in `cwd`: the app's own @reload/core (a new release brings its own,
 * and the old release may be deleted), else the keeper's.
 */
export function register (cwd: string): string {
  let path = ownRegister
  // Resolved from the real folder: Node caches a resolution by the path asked from, which a moved
  // `current` symlink keeps.
  try { path = createRequire(join(realpathSync(cwd), 'package.json')).resolve('@reload/core/register') } catch {}
  return pathToFileURL(path).href
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

/**
 * The folder of Node's compile cache for this keeper's workers
 * (`$TMPDIR/reload-cache-<pid namespace>-<keeper pid>-XXXXXX`), made at the first worker and removed when the
 * keeper exits; undefined when it cannot be made. One for every worker: a roll's or a restart's worker reads
 * what the one before compiled (measured on Node 22 and 24: the preload's reloader and the app start sooner).
 */
export function compileCacheDir (): string | undefined {
  if (compileCache !== undefined) return compileCache
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
  env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${register(cwd)}`.trim()
  // A cache the user set (or turned off) is theirs to keep.
  if (env.NODE_COMPILE_CACHE === undefined && env.NODE_DISABLE_COMPILE_CACHE === undefined) {
    const dir = compileCacheDir()
    if (dir !== undefined) env.RELOAD_COMPILE_CACHE = dir
  }
  return env
}
