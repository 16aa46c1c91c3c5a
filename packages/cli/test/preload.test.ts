import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { preloadOption, workerEnv } from '../src/preload.js'

const saved = process.env.NODE_PATH
afterEach(() => {
  if (saved === undefined) Reflect.deleteProperty(process.env, 'NODE_PATH')
  else process.env.NODE_PATH = saved
})

describe('workerEnv()', () => {
  it("leaves out of NODE_PATH the pnpm store that reload's own bin shim put there, and keeps the user's folders", () => {
    process.env.NODE_PATH = '/srv/app/node_modules/.pnpm/node_modules:/opt/shared/lib'
    expect(workerEnv({ drainTimeout: 1000, preload: false }, process.cwd()).NODE_PATH).toBe('/opt/shared/lib')
    process.env.NODE_PATH = '/srv/app/node_modules/.pnpm/node_modules'
    expect('NODE_PATH' in workerEnv({ drainTimeout: 1000, preload: false }, process.cwd())).toBe(false)
  })

  it('gives the keeper pid, the drain budget and the preload', () => {
    const env = workerEnv({ drainTimeout: 1234, preload: true }, process.cwd(), 42)
    expect(env.RELOAD_KEEPER).toBe('42')
    expect(env.RELOAD_DRAIN_TIMEOUT).toBe('1234')
    // The CommonJS entry, by --require.
    expect(env.NODE_OPTIONS).toMatch(/--require=\S*\/dist\/register\.cjs$/)
  })

  it("keeps --import in reload dev, whose waiting worker's own --import must run first", () => {
    process.env.RELOAD_DEV_SPARE = '/tmp/dev.sock'
    try {
      expect(workerEnv({ drainTimeout: 1000, preload: true }, process.cwd()).NODE_OPTIONS).toMatch(/--import=file:\/\/\S*\/dist\/register\.cjs$/)
    } finally {
      Reflect.deleteProperty(process.env, 'RELOAD_DEV_SPARE')
    }
  })
})

describe('preloadOption()', () => {
  it('is --import for an ES module entry (an older @reload/core of the app\'s own)', () => {
    expect(preloadOption('/srv/app/node_modules/@reload/core/dist/register.js')).toBe('--import=file:///srv/app/node_modules/@reload/core/dist/register.js')
  })

  it('quotes a path with a space, a quote or a backslash as Node reads NODE_OPTIONS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-preload-'))
    try {
      const odd = join(dir, 'my "odd" app\\x')
      mkdirSync(odd)
      const file = join(odd, 'register.cjs')
      writeFileSync(file, "process.stdout.write('preloaded')\n")
      expect(preloadOption('/srv/app/dist/register.cjs')).toBe('--require=/srv/app/dist/register.cjs')
      expect(preloadOption(file)).toBe(`--require="${dir}/my \\"odd\\" app\\\\x/register.cjs"`)
      const out = execFileSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: `--max-old-space-size=100 ${preloadOption(file)}` }, encoding: 'utf8' })
      expect(out).toBe('preloaded')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
