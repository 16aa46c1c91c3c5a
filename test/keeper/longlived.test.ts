// Long-lived connections under `reload run`: a rolling reload tells them to go away as a handover does.
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, Fixture, root, until } from '@reload/test-helpers'
import { EventSourceClient, WsClient } from '../longlived/clients.js'
import { cli, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

async function serves (fixture: Fixture, generation: number, timeout = 20_000): Promise<number[]> {
  const { match } = await fixture.waitFor(new RegExp(`generation ${generation} serves \\(generation=${generation} ms=\\d+ workers=([\\d,]+)\\)`), { timeout })
  return (match[1] as string).split(',').map(Number)
}

/** A WebSocket user: reconnects after each close until it is on one of `wanted()`'s pids. */
class Reconnecting {
  readonly connections: WsClient[] = []
  readonly pids: number[] = []
  constructor (readonly url: string, readonly wanted: () => Set<number>) {}

  async open (): Promise<void> {
    const last = this.connections.at(-1)
    if (last !== undefined && this.wanted().has(this.pids.at(-1) as number)) return
    if (last !== undefined) await last.ended
    for (;;) {
      const client = new WsClient(this.url)
      this.connections.push(client)
      const pid = await client.pid()
      this.pids.push(pid)
      if (this.wanted().has(pid)) return
      await client.ended
    }
  }
}

describe('reload run: WebSockets and event streams across a rolling reload', () => {
  it('gives every WebSocket 1001 before the close, and each reconnects to a new worker', async () => {
    const keeper = await startKeeper(['--workers', '2'], { command: [process.execPath, join(root, 'examples/websocket/server.js')] })
    const first = new Set(workers(keeper.fixture).map((w) => w.pid))
    let next = first
    const users = Array.from({ length: 30 }, () => new Reconnecting(`ws://127.0.0.1:${keeper.port}`, () => next))
    try {
      await Promise.all(users.map(async (u) => await u.open()))
      const roll = await cli(['reload', '--wait', '--control', keeper.control])
      expect(roll.code).toBe(0)
      next = new Set(await serves(keeper.fixture, 2))
      await Promise.all(users.map(async (u) => await u.open()))
      // Workers roll one at a time: a client told to go away by the first may reconnect to the second, not
      // yet replaced, and be told again. Each time it is 1001 with the reason of a shutdown, never 1006.
      const closes = users.flatMap((u) => u.connections.slice(0, -1).map((c) => c.closed))
      expect(closes.length).toBeGreaterThanOrEqual(30)
      expect(closes.filter((c) => c?.code !== 1001 || c.reason !== 'server shutting down')).toEqual([])
      expect(users.every((u) => first.has(u.pids[0] as number) && next.has(u.pids.at(-1) as number))).toBe(true)
    } finally {
      for (const u of users) for (const c of u.connections) c.close()
      keeper.fixture.signal('SIGTERM', keeper.pid)
      await keeper.fixture.exited(20_000)
    }
  })

  it('ends each event stream with retry:, and the client resumes on a new worker with no event lost', async () => {
    const keeper = await startKeeper([], { command: [process.execPath, join(root, 'examples/sse/server.js')] })
    const streams = Array.from({ length: 10 }, () => new EventSourceClient(`${keeper.url}/events`).start())
    try {
      const [old] = workers(keeper.fixture).map((w) => w.pid)
      await until(() => streams.every((s) => s.events.length >= 3), 'every stream has events', { timeout: 10_000 })
      keeper.fixture.signal('SIGHUP', keeper.pid)
      const [next] = await serves(keeper.fixture, 2)
      for (const s of streams) await s.until(() => s.events.filter((e) => e.pid === next).length >= 3, 'three events from the new worker', 15_000)
      for (const s of streams) {
        const ids = s.events.map((e) => Number(e.id))
        expect(ids.slice(1).filter((id, i) => id !== (ids[i] as number) + 1)).toEqual([])
        expect([s.events[0]?.pid, s.events.at(-1)?.pid]).toEqual([old, next])
        expect(s.retry).toBe(100)
      }
    } finally {
      for (const s of streams) s.stop()
      keeper.fixture.signal('SIGTERM', keeper.pid)
      await keeper.fixture.exited(20_000)
    }
  })
})
