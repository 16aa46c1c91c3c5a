// Installs each framework app from the npm registry (`npm ci`, from its package-lock.json) and builds it
// the way its docs say, once: an app whose package.json, lock and sources are unchanged since its last
// build is left as it is. vitest runs this before the framework tests (globalSetup).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const apps = fileURLToPath(new URL('./apps', import.meta.url))

/** How each app is built for production, after `npm ci`. */
const builds: Record<string, string[][]> = {
  hono: [],
  next: [['node_modules/.bin/next', 'build']],
  nitro: [['node_modules/.bin/nitropack', 'build']],
  sveltekit: [['node_modules/.bin/vite', 'build']]
}

const outputs = new Set(['node_modules', 'build', '.next', '.output', '.nitro', '.svelte-kit', '.built'])

function sources (dir: string): string[] {
  return readdirSync(dir).filter((name) => !outputs.has(name)).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : [path]
  }).sort()
}

function fingerprint (dir: string): string {
  const hash = createHash('sha256')
  for (const path of sources(dir)) hash.update(relative(dir, path)).update(readFileSync(path))
  return hash.digest('hex')
}

export default function setup (): void {
  for (const [name, steps] of Object.entries(builds)) {
    const dir = join(apps, name)
    const marker = join(dir, '.built')
    const print = fingerprint(dir)
    if (existsSync(marker) && readFileSync(marker, 'utf8') === print) continue
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_OPTIONS: '' }
    const started = Date.now()
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env, stdio: ['ignore', 'inherit', 'inherit'] })
    for (const [command, ...args] of steps) execFileSync(command as string, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'] })
    writeFileSync(marker, print)
    process.stdout.write(`frameworks: ${name} installed and built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
  }
}
