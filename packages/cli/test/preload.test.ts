import { afterEach, describe, expect, it } from 'vitest'
import { workerEnv } from '../src/preload.js'

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
    expect(env.NODE_OPTIONS).toMatch(/--import=file:\/\/.*register\.js$/)
  })
})
