import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, keepAliveAgent, request, startServer } from '@reload/test-helpers'

// The seed demo and the handover contract run for every Koa variant in adapter-koa*.test.ts; here, only
// what is Koa's own: ctx.reload, which withReload(app) sets on app.context.
const app = 'test/fixtures/koa-app.js'
const versions = { koa: '3.3.0', koa2: '2.16.4' } as const

afterEach(closeAll)

describe('@reload/koa ctx.reload', () => {
  for (const koa of ['koa', 'koa2'] as const) {
    const version = versions[koa]
    it(`Koa ${version}, withReload(app).listen(): ctx.reload shows generation 2 after a reload, and draining with Connection: close`, async () => {
      const { fixture, url, pid } = await startServer(app, { env: { KOA: koa, MODE: 'reload' } })
      // Keep-alive: with no agent the client itself asks for `Connection: close` and the header proves nothing.
      const agent = keepAliveAgent(url)
      const state = async (path: string, options: Parameters<typeof request>[1] = {}): Promise<{ body: unknown, connection: string | undefined }> => {
        const outcome = await request(`${url}${path}`, options)
        if (outcome.error !== undefined) throw new Error(`GET ${path} failed: ${outcome.error}`)
        return { body: JSON.parse(outcome.body as string), connection: outcome.headers?.connection }
      }
      try {
        expect(await state('/reload', { agent })).toEqual({
          body: { pid, generation: 1, state: 'ready', isDraining: false, koa: version },
          connection: 'keep-alive'
        })
        // Held until the drain begins: a fixed time could end before a slow handover does (CI: the answer came
        // from a generation still upgrading, with keep-alive).
        const slow = await fixture.inFlight(`${url}/reload?until=drain`, { agent })
        fixture.signal('SIGHUP', pid)
        const next = await fixture.ready(2)
        await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
        expect(next).not.toBe(pid)
        // A new connection (no agent): the pooled one may have been idle when the drain began.
        expect((await state('/reload')).body).toEqual({ pid: next, generation: 2, state: 'ready', isDraining: false, koa: version })
        const old = await slow.response
        expect([old.status, JSON.parse(old.body ?? 'null'), old.headers?.connection]).toEqual([
          200, { pid, generation: 1, state: 'draining', isDraining: true, koa: version }, 'close'
        ])
        await fixture.gone(pid)
      } finally {
        agent.destroy()
      }
    })
  }
})
