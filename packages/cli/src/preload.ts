import { realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
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

/** A worker's environment: the keeper's, the keeper's pid, its drain budget unless set, and the preload. */
export function workerEnv (options: { drainTimeout: number, preload: boolean }, cwd: string, keeper = process.pid): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RELOAD_KEEPER: String(keeper) }
  // The worker's own drain budget is the keeper's, unless its code sets one.
  env.RELOAD_DRAIN_TIMEOUT ??= String(options.drainTimeout)
  if (options.preload) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${register(cwd)}`.trim()
  return env
}
