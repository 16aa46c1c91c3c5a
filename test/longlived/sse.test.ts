import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, startServer } from '@reload/test-helpers'
import { drainTimes, EventSourceClient } from './clients.js'

const WINDOW = 1000
// What the old generation may take beyond its window to exit: the last event's write and the exit.
const MARGIN = 1000

const streams: EventSourceClient[] = []
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.stop()
  await closeAll()
})

/**
 * Opens `n` event streams and reloads `reloads` times, each time once every stream has an event from the
 * newest pid; returns the pids in order and how long each old pid took from drain to exit.
 */
async function streamAcross (fixture: Fixture, pid: number, url: string, n: number, reloads: number): Promise<{ clients: EventSourceClient[], pids: number[], exits: number[] }> {
  const clients = Array.from({ length: n }, () => new EventSourceClient(`${url}/events`).start())
  streams.push(...clients)
  const pids = [pid]
  const exits: number[] = []
  const onPid = async (p: number): Promise<void> => {
    await Promise.all(clients.map(async (c) => { await c.until(() => c.events.filter((e) => e.pid === p).length >= 2, `2 events from pid ${p}`) }))
  }
  for (let generation = 2; generation <= reloads + 1; generation++) {
    const old = pids.at(-1) as number
    await onPid(old)
    fixture.signal('SIGHUP', old)
    pids.push(await fixture.ready(generation))
    await onPid(pids.at(-1) as number)
    exits.push((await drainTimes(fixture, old)).ms)
    await fixture.gone(old)
  }
  for (const c of clients) c.stop()
  return { clients, pids, exits }
}

/** The product's guarantees, seen from each client: one connection per generation, no event lost or repeated. */
function checkStreams (clients: EventSourceClient[], pids: number[]): void {
  for (const c of clients) {
    const ids = c.events.map((e) => Number(e.id))
    // Consecutive ids: no gap (a lost event) and no repeat.
    expect(ids.filter((id, i) => i > 0 && id !== (ids[i - 1] as number) + 1)).toEqual([])
    // Each generation's events in turn, from the first to the last.
    const order = c.events.map((e) => pids.indexOf(e.pid as number))
    expect(order.filter((g, i) => g < 0 || (i > 0 && g < (order[i - 1] as number)))).toEqual([])
    expect(new Set(order)).toEqual(new Set(pids.map((_, i) => i)))
    // One connection to each generation, each answered 200; every reconnect carried the last id seen.
    expect(c.connections.map((k) => [k.status, k.pid]), JSON.stringify(c.connections)).toEqual(pids.map((p) => [200, p]))
    expect(c.connections.slice(0, -1).map((k) => k.ended)).toEqual(pids.slice(1).map(() => 'end'))
    for (let k = 1; k < c.connections.length; k++) {
      const resumed = c.connections[k]?.lastEventId
      const before = c.events.filter((e) => e.pid === pids[k - 1]).at(-1)
      expect(resumed).toBe(before?.id)
    }
    // The drain's last `retry:`.
    expect(c.retry).toBe(100)
  }
}

describe('Server-Sent Events across reloads', () => {
  it('examples/sse: 20 streams across 2 reloads resume on each new pid with consecutive ids (0 lost, 0 repeated)', async () => {
    const { fixture, url, pid } = await startServer('examples/sse/server.js', { env: { RELOAD_GOAWAY_WINDOW: String(WINDOW) } })
    const { clients, pids, exits } = await streamAcross(fixture, pid, url, 20, 2)
    checkStreams(clients, pids)
    for (const ms of exits) expect(ms).toBeLessThan(WINDOW + MARGIN)
    const events = clients.reduce((n, c) => n + c.events.length, 0)
    console.info(`SSE (examples/sse): 20 streams, 2 reloads, ${events} events, 0 lost, 0 repeated; ` +
      `old pids exited ${exits.join(', ')} ms after their drain began (window ${WINDOW} ms)`)
  })

  for (const framework of ['koa', 'express']) {
    it(`${framework} with eventStream(): 5 streams across a reload resume on the new pid with consecutive ids`, async () => {
      const { fixture, url, pid } = await startServer('test/longlived/fixtures/sse-app.js', { env: { FRAMEWORK: framework, RELOAD_GOAWAY_WINDOW: String(WINDOW) } })
      const { clients, pids, exits } = await streamAcross(fixture, pid, url, 5, 1)
      checkStreams(clients, pids)
      for (const ms of exits) expect(ms).toBeLessThan(WINDOW + MARGIN)
      console.info(`SSE (${framework}): 5 streams, 1 reload, ${clients.reduce((n, c) => n + c.events.length, 0)} events, 0 lost; old pid exited ${exits.join(', ')} ms after its drain began`)
    })
  }
})
