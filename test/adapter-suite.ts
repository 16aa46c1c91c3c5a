import http from 'node:http'
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, root, startServer } from './helpers/process.js'
import { get, Load, request } from './helpers/http.js'

export interface SuiteOptions {
  /** Path of the example, from the repository root: `examples/http/server.js`. */
  script: string
  /** Reloads in the keep-alive load test. */
  reloads?: number
}

// A copy beside the example resolves the same packages, and can be rewritten between generations.
function copyOf (script: string): { path: string, write: (edit: (source: string) => string) => void, remove: () => void } {
  const original = join(root, script)
  const path = join(dirname(original), `.suite-${basename(original, '.js')}-${process.pid}-${Date.now()}.js`)
  copyFileSync(original, path)
  const source = readFileSync(original, 'utf8')
  return {
    path,
    write: (edit) => writeFileSync(path, edit(source)),
    remove: () => rmSync(path, { force: true })
  }
}

/** The conformance suite every adapter passes: the seed demo and the handover contract, with real processes. */
export function adapterSuite (name: string, options: SuiteOptions): void {
  const { script, reloads = 5 } = options
  describe(`${name} adapter`, () => {
    afterEach(closeAll)

    it('slow request finishes on the old pid while new requests get the new pid', async () => {
      const { fixture, url, pid } = await startServer(script)
      const slow = request(`${url}/?sleep=1.5`)
      await new Promise((resolve) => setTimeout(resolve, 200))
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      // Until the old generation reads READY and closes its handle, both accept: wait for that moment.
      await fixture.waitFor(new RegExp(`reload\\[${pid}\\]: draining`))
      const fresh = await get(`${url}/?sleep=0`)
      expect(next).not.toBe(pid)
      expect(fresh.status).toBe(200)
      expect(fresh.body).toBe(`ospid:${next}`)
      const old = await slow
      expect(old.status).toBe(200)
      expect(old.body).toBe(`ospid:${pid}`)
      await fixture.gone(pid)
      expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
    })

    it(`${reloads} reloads in a row under keep-alive load: zero failed requests, zero non-2xx`, async () => {
      const { fixture, url, pid } = await startServer(script)
      const load = new Load(url, { connections: 8, slowEvery: 4, slow: 0.1 }).start()
      const pids = [pid]
      for (let n = 2; n <= reloads + 1; n++) {
        await new Promise((resolve) => setTimeout(resolve, 300))
        fixture.signal('SIGHUP', pids.at(-1))
        pids.push(await fixture.ready(n))
      }
      await new Promise((resolve) => setTimeout(resolve, 300))
      const outcomes = await load.stop()
      const served = new Set(outcomes.map((o) => o.pid))
      expect(load.failures).toEqual([])
      expect(outcomes.length).toBeGreaterThan(reloads * 20)
      expect(served).toEqual(new Set(pids))
      for (const old of pids.slice(0, -1)) await fixture.gone(old)
      const handovers = [...fixture.output.matchAll(/drains \(pid=\d+ ms=(\d+)\)/g)].map((m) => Number(m[1])).sort((a, b) => a - b)
      const median = handovers[Math.floor(handovers.length / 2)]
      console.info(`${name}: ${reloads} reloads, ${outcomes.length} requests, ${load.failures.length} failed; ` +
        `signal-to-ready median ${median} ms (min ${handovers[0]}, max ${handovers.at(-1)})`)
    })

    it('serves the new code after a reload', async () => {
      const copy = copyOf(script)
      try {
        const { fixture, url, pid } = await startServer(copy.path)
        copy.write((source) => source.replace('ospid:', 'v2 ospid:'))
        fixture.signal('SIGHUP', pid)
        const next = await fixture.ready(2)
        expect((await get(`${url}/?sleep=0`)).body).toBe(`v2 ospid:${next}`)
      } finally {
        copy.remove()
      }
    })

    it('a new version that throws at start-up leaves the old one serving, and a fixed one takes over', async () => {
      const copy = copyOf(script)
      try {
        const { fixture, url, pid } = await startServer(copy.path)
        copy.write((source) => `throw new Error('broken build')\n${source}`)
        fixture.signal('SIGHUP', pid)
        await fixture.waitFor(/handover failed, pid \d+ keeps serving: new generation \(pid \d+\) exited with code 1/)
        expect(fixture.output).toMatch(/code=ERR_RELOAD_CHILD_EXITED/)
        expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${pid}`)
        copy.write((source) => source)
        fixture.signal('SIGHUP', pid)
        const next = await fixture.ready(2)
        expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
      } finally {
        copy.remove()
      }
    })

    it('a new version that never listens is killed at readyTimeout, and the old one keeps serving', async () => {
      const copy = copyOf(script)
      try {
        const { fixture, url, pid } = await startServer(copy.path, { env: { RELOAD_READY_TIMEOUT: '800' } })
        copy.write(() => 'setInterval(() => {}, 1000)\n')
        const started = Date.now()
        fixture.signal('SIGHUP', pid)
        const { match } = await fixture.waitFor(/new generation \(pid (\d+)\) was not ready within readyTimeout \(800 ms\)/)
        expect(Date.now() - started).toBeGreaterThanOrEqual(800)
        expect(fixture.output).toMatch(/code=ERR_RELOAD_READY_TIMEOUT/)
        await fixture.gone(Number(match[1]))
        expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${pid}`)
      } finally {
        copy.remove()
      }
    })

    it('SIGTERM drains: the in-flight request finishes with Connection: close, then the process exits 0', async () => {
      const { fixture, url, pid } = await startServer(script)
      const agent = new http.Agent({ keepAlive: true })
      const before = await get(`${url}/?sleep=0`, { agent })
      expect(before.headers?.connection).toBe('keep-alive')
      const slow = request(`${url}/?sleep=1.5`, { agent })
      await new Promise((resolve) => setTimeout(resolve, 200))
      fixture.signal('SIGTERM', pid)
      const outcome = await slow
      agent.destroy()
      expect(outcome.status).toBe(200)
      expect(outcome.body).toBe(`ospid:${pid}`)
      expect(outcome.headers?.connection).toBe('close')
      expect(await fixture.exit).toEqual({ code: 0, signal: null })
      expect((await request(`${url}/?sleep=0`)).error).toBe('ECONNREFUSED')
    })
  })
}
