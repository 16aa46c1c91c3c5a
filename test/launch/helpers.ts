// What the launch tests need beyond @reload/test-helpers: an app in a folder of its own (with the
// node_modules it imports), started by a command line exactly as a user types it.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { closeAll, Fixture, portBelowEphemeralRange, root, tempDir } from '@reload/test-helpers'

const fixtures = new Set<Fixture>()

/** For `afterEach`: kills every process started by {@link run}, then what `closeAll()` does. */
export async function cleanUp (): Promise<void> {
  await Promise.all([...fixtures].map(async (f) => await f.close()))
  fixtures.clear()
  await closeAll()
}

/** The workspace's fixtures package: every package an app here imports is installed there. */
export const modules = join(root, 'test/fixtures/node_modules')

/** A temporary folder for an app: package.json (ESM) and node_modules linking `packages`. */
export function appDir (packages: string[] = ['@reload/core']): string {
  const dir = tempDir()
  for (const name of packages) {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true })
    symlinkSync(join(modules, name), join(dir, 'node_modules', name))
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'app', private: true, type: 'module' })}\n`)
  return dir
}

/** Writes test/launch/fixtures/`fixture` to `dir`/`name`, its `RELEASE` marker replaced by `release`. */
export function place (fixture: string, dir: string, { name = fixture, release = 'v1' }: { name?: string, release?: string } = {}): string {
  const path = join(dir, name)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, readFileSync(join(root, 'test/launch/fixtures', fixture), 'utf8').replaceAll('RELEASE', release))
  return path
}

// The runner's own settings are not the app's: no RELOAD_*/LISTEN_* of its own, no PORT or VALUE.
function userEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) =>
    (!/^(RELOAD|LISTEN)_/.test(name) || name === 'RELOAD_TEST_ECHO') && name !== 'PORT' && name !== 'VALUE'))
}

/**
 * Runs `command args` in `cwd` the way a shell does: `PWD` is `cwd` as given (through a symlink too).
 * `cleanUp()` kills it and every pid its output names.
 */
export function run (command: string, args: string[], { cwd, env = {} }: { cwd: string, env?: Record<string, string> }): Fixture {
  const child = spawn(command, args, { cwd, env: { ...userEnv(), PWD: cwd, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const fixture = new Fixture(child)
  fixtures.add(fixture)
  return fixture
}

/** Two different free ports below the ephemeral range. */
export async function twoPorts (): Promise<[number, number]> {
  const first = await portBelowEphemeralRange()
  for (;;) {
    const second = await portBelowEphemeralRange()
    if (second !== first) return [first, second]
  }
}

/** The URL of the first `listening on` line at or after line `from`. */
export async function listening (fixture: Fixture, from = 0): Promise<string> {
  const { match } = await fixture.waitFor(/listening on (http:\/\/\S+)/, { from, timeout: 15_000 })
  return match[1] as string
}
