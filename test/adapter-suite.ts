import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, copyOf, type Fixture, get, keepAliveAgent, Load, request, root, startServer } from '@reload/test-helpers'

/** One way to run an app under reload: a script, its environment, and what it answers. */
export interface Variant {
  /** Named in each test: `Express 4, withReload(app).listen()`. */
  name: string
  /** Path of the script, from the repository root: `examples/http/server.js`. */
  script: string
  env?: Record<string, string>
  /** The server speaks HTTPS with the test certificate (test/fixtures/express-tls-cert.pem). */
  tls?: boolean
  /** The body a plain GET answers with, from the pid that served it. Default: `ospid:<pid>`. */
  body?: (pid: number) => string
  /** Reloads in the keep-alive load test. Default: 3. */
  reloads?: number
}

/** The certificate authority of the TLS variants. */
export const ca = readFileSync(join(root, 'test/fixtures/express-tls-cert.pem'))

// Seconds a slow request takes. The test waits until the server has it, so this only has to outlast the
// handover (a few hundred ms, more on a busy machine) for the request to be in flight when the drain begins.
const held = 2.5

// The new generation logs ready once it has told the old one, which closes its listener a moment later:
// until the old one logs `draining`, a new connection may still land on it.
async function draining (fixture: Fixture, pid: number): Promise<void> {
  await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
}

/**
 * The conformance suite every adapter passes, once per variant: the seed demo and the handover contract,
 * with real processes. Framework test files keep only what is specific to their framework.
 */
export function adapterSuite (adapter: string, variants: Variant[]): void {
  for (const variant of variants) {
    const { name, script, env = {}, tls = false, reloads = 3 } = variant
    const body = variant.body ?? ((pid: number) => `ospid:${pid}`)
    const tlsOptions = tls ? { ca } : {}
    const start = async (options: { script?: string, env?: Record<string, string> } = {}): ReturnType<typeof startServer> =>
      await startServer(options.script ?? script, { env: { ...env, ...options.env } })

    describe(`${adapter} adapter: ${name}`, () => {
      afterEach(closeAll)

      it('slow request finishes on the old pid with Connection: close while new requests get the new pid', async () => {
        const { fixture, url, pid: first } = await start()
        let pid = first
        // A handover that outlasts the slow request (a busy machine) leaves nothing in flight to drain: the
        // request answered before the drain, rightly with keep-alive. That is told by the clock, and tried
        // again with a longer one, from the new generation.
        for (const [attempt, hold] of [held, held * 2, held * 4].entries()) {
          const agent = keepAliveAgent(url, tlsOptions)
          try {
            const plain = await get(`${url}/?sleep=0`, { agent, ...tlsOptions })
            expect([plain.status, plain.body, plain.headers?.connection]).toEqual([200, body(pid), 'keep-alive'])
            const sent = Date.now()
            const slow = await fixture.inFlight(`${url}/?sleep=${hold}`, { agent, ...tlsOptions })
            expect(slow.pid).toBe(pid)
            fixture.signal('SIGHUP', pid)
            const next = await fixture.ready(attempt + 2)
            await draining(fixture, pid)
            // The server answers no sooner than `hold` after the request was sent; the drain began before now.
            const inTime = Date.now() + 50 < sent + hold * 1000
            expect(next).not.toBe(pid)
            // A new connection (no agent): the pooled one may have been idle when the drain began.
            const fresh = await get(`${url}/?sleep=0`, tlsOptions)
            expect([fresh.status, fresh.body]).toEqual([200, body(next)])
            const old = await slow.response
            expect([old.status, old.body, old.error]).toEqual([200, body(pid), undefined])
            if (inTime) expect(old.headers?.connection).toBe('close')
            // Answered before the drain, the pooled connection is idle, kept until the drain's idle grace.
            else agent.destroy()
            await fixture.gone(pid)
            expect((await get(`${url}/?sleep=0`, tlsOptions)).body).toBe(body(next))
            if (inTime) return
            console.info(`${adapter} (${name}): the handover outlasted a ${hold} s request; trying a longer one`)
            pid = next
          } finally {
            agent.destroy()
          }
        }
        throw new Error(`every handover outlasted its slow request (up to ${held * 4} s); output:\n${fixture.output}`)
      }, 120_000) // three tries, each a handover and a drain: on a busy machine a handover alone took over 5 s

      it(`${reloads} reloads in a row under keep-alive load: zero failed requests, zero non-2xx`, async () => {
        const { fixture, url, pid } = await start()
        const load = new Load(url, { connections: 8, slowEvery: 4, slow: 0.1, ...tlsOptions }).start()
        const pids = [pid]
        for (let n = 2; n <= reloads + 1; n++) {
          // Load on each generation before the next handover: 20 responses from the newest pid.
          await load.servedBy(pids.at(-1) as number, 20)
          fixture.signal('SIGHUP', pids.at(-1))
          pids.push(await fixture.ready(n))
        }
        await load.servedBy(pids.at(-1) as number, 20)
        const outcomes = await load.stop()
        const served = new Set(outcomes.map((o) => o.pid))
        expect(load.failures).toEqual([])
        expect(served).toEqual(new Set(pids))
        for (const old of pids.slice(0, -1)) await fixture.gone(old)
        const handovers = [...fixture.output.matchAll(/drains \(child=\d+ ms=(\d+)\)/g)].map((m) => Number(m[1])).sort((a, b) => a - b)
        const median = handovers[Math.floor(handovers.length / 2)]
        console.info(`${adapter} (${name}): ${reloads} reloads, ${outcomes.length} requests, ${load.failures.length} failed; ` +
          `signal-to-ready median ${median} ms (min ${handovers[0]}, max ${handovers.at(-1)})`)
      })

      it('serves the new code after a reload', async () => {
        const copy = copyOf(script)
        try {
          const { fixture, url, pid } = await start({ script: copy.path })
          copy.write((source) => source.replace('ospid:', 'v2 ospid:'))
          fixture.signal('SIGHUP', pid)
          const next = await fixture.ready(2)
          await draining(fixture, pid)
          expect((await get(`${url}/?sleep=0`, tlsOptions)).body).toBe(`v2 ${body(next)}`)
        } finally {
          copy.remove()
        }
      })

      it('a new version that throws at start-up leaves the old one serving, and a fixed one takes over', async () => {
        const copy = copyOf(script)
        try {
          const { fixture, url, pid } = await start({ script: copy.path })
          copy.write((source) => `throw new Error('broken build')\n${source}`)
          fixture.signal('SIGHUP', pid)
          await fixture.waitFor(/handover failed, pid \d+ keeps serving: new generation \(pid \d+\) exited with code 1/)
          expect(fixture.output).toMatch(/code=ERR_RELOAD_CHILD_EXITED/)
          expect((await get(`${url}/?sleep=0`, tlsOptions)).body).toBe(body(pid))
          copy.write((source) => source)
          fixture.signal('SIGHUP', pid)
          const next = await fixture.ready(2)
          await draining(fixture, pid)
          expect((await get(`${url}/?sleep=0`, tlsOptions)).body).toBe(body(next))
        } finally {
          copy.remove()
        }
      })

      it('a new version that never listens is killed at readyTimeout, and the old one keeps serving', async () => {
        const copy = copyOf(script)
        try {
          const { fixture, url, pid } = await start({ script: copy.path, env: { RELOAD_READY_TIMEOUT: '800' } })
          copy.write(() => 'setInterval(() => {}, 1000)\n')
          const started = Date.now()
          fixture.signal('SIGHUP', pid)
          const { match } = await fixture.waitFor(/new generation \(pid (\d+)\) was not ready within readyTimeout \(800 ms\)/)
          expect(Date.now() - started).toBeGreaterThanOrEqual(800)
          expect(fixture.output).toMatch(/code=ERR_RELOAD_READY_TIMEOUT/)
          await fixture.gone(Number(match[1]))
          expect((await get(`${url}/?sleep=0`, tlsOptions)).body).toBe(body(pid))
        } finally {
          copy.remove()
        }
      })

      it('SIGTERM drains: the in-flight request finishes with Connection: close, then the process exits 0', async () => {
        const { fixture, url, pid } = await start()
        const agent = keepAliveAgent(url, tlsOptions)
        try {
          const before = await get(`${url}/?sleep=0`, { agent, ...tlsOptions })
          expect(before.headers?.connection).toBe('keep-alive')
          const slow = await fixture.inFlight(`${url}/?sleep=1`, { agent, ...tlsOptions })
          fixture.signal('SIGTERM', pid)
          const outcome = await slow.response
          expect([outcome.status, outcome.body, outcome.headers?.connection]).toEqual([200, body(pid), 'close'])
          expect(await fixture.exit).toEqual({ code: 0, signal: null })
          expect((await request(`${url}/?sleep=0`, tlsOptions)).error).toBe('ECONNREFUSED')
        } finally {
          agent.destroy()
        }
      })
    })
  }
}
