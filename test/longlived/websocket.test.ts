import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, startServer } from '@reload/test-helpers'
import { drainTimes, WsClient } from './clients.js'

const WINDOW = 1000
// trackWebSockets' default: how long a client has to answer the close frame.
const CLOSE_TIMEOUT = 2000
// What the old generation may take beyond its window to exit: the close handshakes and the exit itself.
const MARGIN = 1000

const clientsOpen: WsClient[] = []
afterEach(async () => {
  for (const client of clientsOpen.splice(0)) client.close()
  await closeAll()
})

function open (url: string): WsClient {
  const client = new WsClient(url)
  clientsOpen.push(client)
  return client
}

function countBy<T> (items: T[], key: (item: T) => string | number): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1
  return counts
}

/**
 * Opens `n` clients on the first generation, reloads, and lets each client reconnect once its connection
 * ended: what the clients saw, and when the old generation drained and exited.
 */
async function reloadWith (fixture: Fixture, pid: number, url: string, n: number): Promise<{
  next: number
  closes: Array<{ code: number, reason: string, at: number }>
  reconnected: number[]
  draining: number
  exiting: number
}> {
  const clients = Array.from({ length: n }, () => open(url))
  expect(await Promise.all(clients.map(async (c) => await c.pid()))).toEqual(clients.map(() => pid))
  fixture.signal('SIGHUP', pid)
  const next = await fixture.ready(2)
  // Each client reconnects as soon as its connection ended, as a browser app does on 1001.
  const reconnected = await Promise.all(clients.map(async (c) => {
    await c.ended
    return await open(url).pid()
  }))
  const closes = clients.map((c) => c.closed as { code: number, reason: string, at: number })
  const { draining, exiting } = await drainTimes(fixture, pid)
  await fixture.gone(pid)
  return { next, closes, reconnected, draining, exiting }
}

describe('WebSocket (ws) across a reload', () => {
  it('examples/websocket: 50 clients each get 1001 before the TCP close (0 × 1006), spread over the window, and reconnect to the new pid', async () => {
    const { fixture, url, pid } = await startServer('examples/websocket/server.js', { env: { RELOAD_GOAWAY_WINDOW: String(WINDOW) } })
    const n = 50
    const { next, closes, reconnected, draining, exiting } = await reloadWith(fixture, pid, url.replace(/^http/, 'ws'), n)
    const codes = countBy(closes, (c) => c.code)
    const times = closes.map((c) => c.at)
    const spread = Math.max(...times) - Math.min(...times)
    console.info(`WebSocket (ws attached): ${n} clients, close codes ${JSON.stringify(codes)}, closes spread over ${spread} ms ` +
      `(window ${WINDOW} ms), old pid exited ${exiting - draining} ms after its drain began; all ${reconnected.length} reconnected to the new pid`)
    // A ws client reports 1006 when the TCP connection ended with no close frame first.
    expect(codes).toEqual({ 1001: n })
    expect(new Set(closes.map((c) => c.reason))).toEqual(new Set(['server reloading']))
    expect(reconnected).toEqual(reconnected.map(() => next))
    // 50 moments drawn over the window: they span most of it (under half would have odds below 1e-13).
    expect(spread).toBeGreaterThan(WINDOW / 2)
    expect(spread).toBeLessThan(WINDOW + MARGIN)
    expect(exiting - draining).toBeLessThan(WINDOW + CLOSE_TIMEOUT + MARGIN)
  })

  it('ws with noServer and the app\'s own upgrade handler, tracked: 1001 for every client, reconnected to the new pid', async () => {
    const { fixture, url, pid } = await startServer('test/longlived/fixtures/ws-app.js', { env: { MODE: 'noServer', RELOAD_GOAWAY_WINDOW: String(WINDOW) } })
    const n = 10
    const { next, closes, reconnected, draining, exiting } = await reloadWith(fixture, pid, url.replace(/^http/, 'ws'), n)
    expect(countBy(closes, (c) => c.code)).toEqual({ 1001: n })
    expect(reconnected).toEqual(reconnected.map(() => next))
    expect(exiting - draining).toBeLessThan(WINDOW + CLOSE_TIMEOUT + MARGIN)
    console.info(`WebSocket (ws noServer): ${n} clients, close codes ${JSON.stringify(countBy(closes, (c) => c.code))}, old pid exited ${exiting - draining} ms after its drain began`)
  })

  it('@fastify/websocket under the Fastify plugin, with no trackWebSockets() in the app: 1001 for every client, reconnected to the new pid', async () => {
    const { fixture, url, pid } = await startServer('test/longlived/fixtures/fastify-ws-app.js', { env: { RELOAD_GOAWAY_WINDOW: String(WINDOW) } })
    const n = 10
    const { next, closes, reconnected, draining, exiting } = await reloadWith(fixture, pid, `${url.replace(/^http/, 'ws')}/ws`, n)
    expect(countBy(closes, (c) => c.code)).toEqual({ 1001: n })
    expect(new Set(closes.map((c) => c.reason))).toEqual(new Set(['server reloading']))
    expect(reconnected).toEqual(reconnected.map(() => next))
    // Well before drainTimeout (30 s): the plugin closed them, not the deadline.
    expect(exiting - draining).toBeLessThan(WINDOW + CLOSE_TIMEOUT + MARGIN)
    expect(fixture.output).not.toMatch(/upgraded connections \(WebSockets\?\) are open and nothing closes them/)
    console.info(`@fastify/websocket: ${n} clients, close codes ${JSON.stringify(countBy(closes, (c) => c.code))}, old pid exited ${exiting - draining} ms after its drain began`)
  })

  it('an app whose WebSockets nothing tracks gets the warning at the drain, and they are cut at drainTimeout', async () => {
    const drainTimeout = 1500
    const { fixture, url, pid } = await startServer('test/longlived/fixtures/ws-app.js', { env: { MODE: 'untracked', RELOAD_DRAIN_TIMEOUT: String(drainTimeout) } })
    const n = 3
    const ws = url.replace(/^http/, 'ws')
    const clients = Array.from({ length: n }, () => open(ws))
    expect(await Promise.all(clients.map(async (c) => await c.pid()))).toEqual([pid, pid, pid])
    const signalled = Date.now()
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: warn: ${n} upgraded connections \\(WebSockets\\?\\) are open and nothing closes them`))
    await fixture.waitFor(new RegExp(`^drain began at (\\d+) \\(pid ${pid}\\)$`))
    // Still served by the old pid while the drain waits.
    expect(await Promise.all(clients.map(async (c) => await c.pid()))).toEqual([pid, pid, pid])
    const closes = await Promise.all(clients.map(async (c) => await c.ended))
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: warn: drainTimeout \\(${drainTimeout} ms\\) reached: cut 0 requests on ${n} connections`))
    await fixture.gone(pid)
    expect(countBy(closes, (c) => c.code)).toEqual({ 1006: n })
    // Cut at the deadline, not before. The drain's clock starts after the signal; neither the `draining` line's
    // arrival here (245 ms late once on a busy CI run) nor the app's own time of the drain event (52 ms after the
    // drain's start once) bounds it from below. A timer may fire a millisecond early by the wall clock.
    for (const close of closes) expect(close.at - signalled).toBeGreaterThanOrEqual(drainTimeout - 2)
    expect(await open(ws).pid()).toBe(next)
  })
})
