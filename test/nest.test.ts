import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, Load, startServer, tempDir } from '@reload/test-helpers'

// The NestJS recipe of docs/nestjs.md, on both of Nest's platforms: the seed demo (a slow request finishes on
// the old pid, new requests get the new pid, the old pid exits) and a short keep-alive load across reloads.
// Nest's shutdown hooks (onApplicationShutdown) run in the old generation after its last request, before it exits.
const variants = [
  { name: 'Nest on Express (ExpressAdapter, withReload(expressApp).attach(app.getHttpServer()))', script: 'test/fixtures/nest-express.js' },
  { name: 'Nest on Fastify (FastifyAdapter({ serverFactory }), reloadPlugin on getInstance())', script: 'test/fixtures/nest-fastify.js' }
]

// Nest boots in over a second of CPU alone: with the rest of the suite running on two cores, a start took 15 s
// and more (CI), so each start may take 45 s and a test 150 s.
const boot = 45_000

for (const { name, script } of variants) {
  describe(name, () => {
    afterEach(closeAll)

    it('slow request finishes on the old pid while new requests get the new pid; the old pid exits after Nest shuts down', async () => {
      const { fixture, url, pid } = await startServer(script, { startTimeout: boot })
      expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${pid}`)
      // Held until the test lets it go: Nest boots in over a second of CPU, and on a busy CI machine the
      // handover outlasted a 6 s sleep, so the drain was over before the test looked at it.
      const release = join(tempDir(), 'release')
      const slow = await fixture.inFlight(`${url}/?until=${encodeURIComponent(release)}`)
      expect(slow.pid).toBe(pid)
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2, boot)
      expect(next).not.toBe(pid)
      // Until the old generation logs `draining`, a new connection may still land on it.
      await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
      expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
      expect(fixture.index(`nest shutdown (pid ${pid})`)).toBe(-1)
      writeFileSync(release, '')
      const old = await slow.response
      expect([old.status, old.body, old.headers?.connection]).toEqual([200, `ospid:${pid}`, 'close'])
      await fixture.gone(pid)
      // The fixture prints its shutdown line on stderr, as reload logs: one stream, in order.
      const { index: shutdown } = await fixture.waitFor(new RegExp(`^nest shutdown \\(pid ${pid}\\)$`))
      const exiting = await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: exiting \\(code=0\\)$`))
      expect(shutdown).toBeGreaterThan(fixture.lines.findIndex((l) => l.text.startsWith(`reload[${pid}]: drained`)))
      expect(shutdown).toBeLessThan(exiting.index)
      expect(fixture.index(`nest shutdown (pid ${next})`)).toBe(-1)
      expect((await get(`${url}/?sleep=0`)).body).toBe(`ospid:${next}`)
    }, 150_000)

    it('2 reloads in a row under keep-alive load: zero failed requests, zero non-2xx', async () => {
      const { fixture, url, pid } = await startServer(script, { startTimeout: boot })
      const load = new Load(url, { connections: 8, slowEvery: 4, slow: 0.1 }).start()
      const pids = [pid]
      try {
        for (let n = 2; n <= 3; n++) {
          await load.servedBy(pids.at(-1) as number, 20)
          fixture.signal('SIGHUP', pids.at(-1))
          pids.push(await fixture.ready(n, boot))
        }
        await load.servedBy(pids.at(-1) as number, 20)
      } finally {
        await load.stop()
      }
      expect(load.failures).toEqual([])
      expect(new Set(load.outcomes.map((o) => o.pid))).toEqual(new Set(pids))
      for (const old of pids.slice(0, -1)) await fixture.gone(old)
    }, 150_000)
  })
}
