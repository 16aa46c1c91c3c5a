// `fastify start` (fastify-cli): it splices process.argv, loads .env itself, and installs close-with-grace,
// which treats SIGHUP as shutdown. A reload still works, with the seed's demo.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { get, type Fixture } from '@reload/test-helpers'
import { appDir, cleanUp, modules, place, run, twoPorts } from './helpers.js'

afterEach(cleanUp)

interface Entry { pid: number, msg: string, [key: string]: unknown }

/** The pino line (JSON) whose whole msg matches, at or after line `from`. */
async function logged (fixture: Fixture, msg: RegExp, from = 0): Promise<Entry & { index: number }> {
  const { match, index } = await fixture.waitFor(new RegExp(`^\\{.*"msg":"${msg.source}"`), { from, timeout: 20_000 })
  return { ...JSON.parse(match.input as string) as Entry, index }
}

describe('fastify start (fastify-cli)', () => {
  it('reloads: a slow request finishes on the old pid, the new pid answers, the app is not shut down; .env is read anew', async () => {
    const dir = appDir(['@reload/fastify', 'fastify'])
    place('fastify-plugin.js', dir, { name: 'app.js' })
    const [port, next] = await twoPorts()
    // fastify-cli loads .env itself (process.loadEnvFile()), and PORT is its default port.
    writeFileSync(join(dir, '.env'), `PORT=${port}\n`)
    const fixture = run(join(modules, '.bin/fastify'), ['start', '-a', '127.0.0.1', '-l', 'info', 'app.js'], { cwd: dir })
    const ready = await logged(fixture, /generation 1 ready/)
    const pid = ready.pid
    expect(fixture.output).toMatch(/fastify start installed close-with-grace, which treats SIGHUP as shutdown: SIGHUP now only reloads/)
    expect(fixture.output).not.toMatch(/another SIGHUP listener is installed/)
    const url = `http://127.0.0.1:${port}`
    expect((await get(url)).body).toBe(`ospid:${pid} release=v1`)

    const slow = get(`${url}/?sleep=2`)
    slow.catch(() => {})
    // Fastify logs each request as it arrives: the slow one is in flight on the old pid.
    await fixture.waitFor(/"url":"\/\?sleep=2".*"msg":"incoming request"/, { from: ready.index })
    place('fastify-plugin.js', dir, { name: 'app.js', release: 'v2' })
    writeFileSync(join(dir, '.env'), `PORT=${next}\n`)
    fixture.signal('SIGHUP', pid)
    const second = await logged(fixture, /generation 2 ready/, ready.index)
    expect(second.pid).not.toBe(pid)
    const fresh = await get(`http://127.0.0.1:${next}/`)
    expect(fresh.body).toBe(`ospid:${second.pid} release=v2`)
    const late = await slow
    expect([late.status, late.body]).toEqual([200, `ospid:${pid} release=v1`])
    await logged(fixture, /exiting/, ready.index)
    await fixture.gone(pid)
    // The first generation exited by reload's drain (exit code 0), not by close-with-grace.
    expect(await fixture.exited()).toEqual({ code: 0, signal: null })
    expect((await get(`http://127.0.0.1:${next}/`)).body).toBe(`ospid:${second.pid} release=v2`)
  })
})
