import { realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
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

/** A worker's environment: the keeper's, the keeper's pid and worker count, its drain budget unless set, and the preload. */
export function workerEnv (options: { drainTimeout: number, preload: boolean, workers?: number }, cwd: string, keeper = process.pid): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RELOAD_KEEPER: String(keeper), RELOAD_WORKERS: String(options.workers ?? 1) }
  const nodePath = withoutPnpmStore(env.NODE_PATH)
  if (nodePath === undefined) Reflect.deleteProperty(env, 'NODE_PATH')
  else env.NODE_PATH = nodePath
  // The worker's own drain budget is the keeper's, unless its code sets one.
  env.RELOAD_DRAIN_TIMEOUT ??= String(options.drainTimeout)
  if (options.preload) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${register(cwd)}`.trim()
  return env
}
