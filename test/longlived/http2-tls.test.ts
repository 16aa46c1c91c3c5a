import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, Load, root, startServer } from '@reload/test-helpers'
import { badRefusals, drainTimes, H2Client, H2Load, SHUTDOWN_NOTICE_LAST_STREAM, type H2Outcome } from './clients.js'

// The test certificate is for 127.0.0.1 and localhost.
const ca = readFileSync(join(root, 'test/fixtures/express-tls-cert.pem'))
const WINDOW = 1000
// Seconds a slow request takes: longer than a handover, so it is in flight when the drain begins.
const SLOW = 2
// What a generation may take beyond its window (or its last request): the final GOAWAY's wait and the exit.
const MARGIN = 2000

afterEach(closeAll)

async function draining (fixture: Fixture, pid: number): Promise<number> {
  const { match } = await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining \\(requests=(\\d+)`))
  return Number(match[1])
}

describe('HTTP/2 over TLS with allowHTTP1', () => {
  it('h2 streams and HTTP/1.1 requests on one port across 2 reloads: 0 failed, slow ones finish on the old pid', async () => {
    const { fixture, url, pid } = await startServer('test/longlived/fixtures/h2-tls-app.js', { env: { RELOAD_GOAWAY_WINDOW: String(WINDOW) } })
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const h2 = new H2Load(url, { clients: 2, streams: 3, slowEvery: 4, slow: 0.2, ca }).start()
    const h1 = new Load(url, { connections: 3, slowEvery: 4, slow: 0.2, ca }).start()
    const pids = [pid]
    const slow: Array<{ pid: number, h2: Promise<H2Outcome>, h1: Promise<{ status?: number, body?: string, pid?: number, error?: string }> }> = []
    const pinned: H2Client[] = []
    try {
      for (let n = 2; n <= 3; n++) {
        const old = pids.at(-1) as number
        await h2.servedBy(old, 10)
        await h1.servedBy(old, 10)
        const client = new H2Client(url, { ca })
        pinned.push(client)
        // SLOW seconds and not before the drain began: a fixed time alone could end before a slow handover did.
        const stream = client.get(`/?sleep=${SLOW}&until=drain`)
        await client.ping()
        const request = await fixture.inFlight(`${url}/?sleep=${SLOW}&until=drain`, { ca })
        expect(request.pid).toBe(old)
        slow.push({ pid: old, h2: stream, h1: request.response })
        fixture.signal('SIGHUP', old)
        pids.push(await fixture.ready(n))
        expect(await draining(fixture, old)).toBeGreaterThanOrEqual(2)
        await h2.servedBy(pids.at(-1) as number, 10)
        await h1.servedBy(pids.at(-1) as number, 10)
        await fixture.gone(old)
      }
    } finally {
      await Promise.all([h2.stop(), h1.stop()])
      for (const client of pinned) client.close()
    }
    for (const s of slow) {
      const [stream, request] = await Promise.all([s.h2, s.h1])
      expect([stream.status, stream.body, stream.error]).toEqual([200, `ospid:${s.pid} http:2.0`, undefined])
      expect([request.status, request.body, request.error]).toEqual([200, `ospid:${s.pid} http:1.1`, undefined])
    }
    expect(h2.failures).toEqual([])
    expect(h1.failures).toEqual([])
    // Both protocols on every generation.
    for (const p of pids) {
      expect(h2.outcomes.some((o) => o.pid === p && o.body === `ospid:${p} http:2.0`)).toBe(true)
      expect(h1.outcomes.some((o) => o.pid === p && o.body === `ospid:${p} http:1.1`)).toBe(true)
    }
    const refused = badRefusals([...h2.clients, ...pinned].flatMap((c) => c.sessions), [...h2.outcomes, ...await Promise.all(slow.map(async (s) => await s.h2))])
    expect(refused.faults).toEqual([])
    const exits = await Promise.all(pids.slice(0, -1).map(async (p) => await drainTimes(fixture, p)))
    for (const { ms } of exits) expect(ms).toBeLessThan(Math.max(WINDOW, SLOW * 1000) + MARGIN)
    console.info(`http2 TLS + allowHTTP1: 2 reloads, ${h2.outcomes.length} h2 streams (${refused.count} refused unprocessed, then served), ` +
      `${h1.outcomes.length} HTTP/1.1 requests, 0 failed; old pids exited ${exits.map((e) => e.ms).join(', ')} ms after their drain began`)
  })
})

describe('Fastify with http2: true and the reload plugin', () => {
  it('streams across 2 reloads: 0 failed, a slow stream finishes on the old pid, the old pid exits well before drainTimeout', async () => {
    const { fixture, url, pid } = await startServer('test/longlived/fixtures/fastify-h2-app.js', { env: { RELOAD_GOAWAY_WINDOW: String(WINDOW) } })
    const load = new H2Load(url, { clients: 3, streams: 3, slowEvery: 4, slow: 0.2 }).start()
    const pids = [pid]
    const slow: Array<{ pid: number, outcome: Promise<H2Outcome> }> = []
    const pinned: H2Client[] = []
    try {
      for (let n = 2; n <= 3; n++) {
        const old = pids.at(-1) as number
        await load.servedBy(old, 10)
        const client = new H2Client(url)
        pinned.push(client)
        // SLOW seconds and not before the drain began: a fixed time alone could end before a slow handover did.
        slow.push({ pid: old, outcome: client.get(`/?sleep=${SLOW}&until=drain`) })
        await client.ping()
        fixture.signal('SIGHUP', old)
        pids.push(await fixture.ready(n))
        expect(await draining(fixture, old)).toBeGreaterThanOrEqual(1)
        await load.servedBy(pids.at(-1) as number, 10)
        await fixture.gone(old)
      }
    } finally {
      await load.stop()
      for (const client of pinned) client.close()
    }
    for (const s of slow) {
      const outcome = await s.outcome
      expect([outcome.status, outcome.pid, outcome.error]).toEqual([200, s.pid, undefined])
    }
    expect(load.failures).toEqual([])
    expect(new Set(load.outcomes.map((o) => o.pid))).toEqual(new Set(pids))
    const told = load.sessions.filter((s) => s.goaways.length > 0)
    expect(told.length).toBeGreaterThanOrEqual(2 * load.clients.length)
    for (const session of told) expect(session.goaways[0]).toMatchObject({ code: 0, last: SHUTDOWN_NOTICE_LAST_STREAM })
    const refused = badRefusals([...load.clients, ...pinned].flatMap((c) => c.sessions), [...load.outcomes, ...await Promise.all(slow.map(async (s) => await s.outcome))])
    expect(refused.faults).toEqual([])
    const exits = await Promise.all(pids.slice(0, -1).map(async (p) => await drainTimes(fixture, p)))
    for (const { ms } of exits) expect(ms).toBeLessThan(Math.max(WINDOW, SLOW * 1000) + MARGIN)
    console.info(`Fastify http2: 2 reloads, ${load.outcomes.length} streams (${refused.count} refused unprocessed, then served), 0 failed; ` +
      `old pids exited ${exits.map((e) => e.ms).join(', ')} ms after their drain began`)
  })
})
