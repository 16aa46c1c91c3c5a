// Socket.IO 4 under `reload run`, the app with reload's one call for it (trackSocketIO): at each of 3
// rolls, 50 clients move to the new workers within the go-away window and a reconnect, and every emit
// they send is acknowledged (Socket.IO's own retries resend what a closed connection dropped).
import { join } from 'node:path'
import { io, type Socket } from 'socket.io-client'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, isAlive, root, until } from '@reload/test-helpers'
import { cli } from '../keeper/helpers.js'
import { runKeeper, serving } from './helpers.js'

const fixtures = join(root, 'test/fixtures')
const app = ['node', 'socketio-app.js']

const clients: Socket[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect()
  await closeAll()
})

interface Tally { sent: number, acked: number, lost: number, last: number | undefined }

const cases = [
  // One worker: Socket.IO's default transports (long-polling, then the upgrade), and 10 clients on long-polling only.
  { workers: 1, server: undefined, transports: (i: number) => i < 10 ? ['polling'] : undefined },
  // Two workers share one socket: long-polling cannot stay on one (the app sets websocket only, as trackSocketIO's warning says).
  { workers: 2, server: 'websocket', transports: () => ['websocket'] }
]

describe.each(cases)('Socket.IO under reload run --workers $workers', ({ workers, server, transports }) => {
  it('50 clients, 3 rolls: every client on the new workers within the window and a reconnect, 0 lost acknowledged emits', async () => {
    const { keeper, port, control } = await runKeeper(fixtures, ['--workers', String(workers)], app, server === undefined ? {} : { SOCKET_IO_TRANSPORTS: server })
    await keeper.waitFor(/workers? ready on/, { timeout: 30_000 })
    const tallies: Tally[] = []
    let stopped = false
    for (let i = 0; i < 50; i++) {
      const tally: Tally = { sent: 0, acked: 0, lost: 0, last: undefined }
      tallies.push(tally)
      const t = transports(i)
      const client = io(`http://127.0.0.1:${port}`, {
        ...(t !== undefined && { transports: t }),
        retries: 5,
        ackTimeout: 2000,
        reconnectionDelay: 100,
        reconnectionDelayMax: 500
      })
      clients.push(client)
      const emit = (): void => {
        if (!client.active || stopped) return
        const n = ++tally.sent
        client.emit('pid', n, (err: Error | null, reply: { pid: number }) => {
          if (err !== null) tally.lost++
          else { tally.acked++; tally.last = reply.pid }
        })
        setTimeout(emit, 200)
      }
      emit()
    }
    const allOn = async (pids: number[], timeout: number): Promise<number> => {
      const from = Date.now()
      await until(() => tallies.every((t) => t.last !== undefined && pids.includes(t.last)), () => `every client acknowledged by pid ${pids.join(' or ')}: ${tallies.filter((t) => t.last === undefined || !pids.includes(t.last)).length} not`, { timeout })
      return Date.now() - from
    }
    await allOn(serving(keeper.output), 20_000)
    const moves: number[] = []
    for (let roll = 1; roll <= 3; roll++) {
      const { code, stdout, stderr } = await cli(['reload', '--wait', '--control', control], { timeout: 60_000 })
      expect(code, stdout + stderr).toBe(0)
      // The last old worker drains from here: its clients leave within goAwayWindow (1 s), then reconnect.
      moves.push(await allOn(serving(keeper.output), 5000))
    }
    // No new emit; the ones sent get their answer (or give up) before the clients go.
    stopped = true
    const sent = tallies.reduce((n, t) => n + t.sent, 0)
    await until(() => tallies.every((t) => t.acked + t.lost === t.sent), 'every emit answered or given up', { timeout: 15_000 })
    for (const client of clients) client.disconnect()
    const lost = tallies.reduce((n, t) => n + t.lost, 0)
    expect(lost).toBe(0)
    process.kill(keeper.child.pid as number, 'SIGTERM')
    expect((await keeper.exited(30_000)).code, keeper.output).toBe(0)
    expect(isAlive(keeper.child.pid as number)).toBe(false)
    expect(keeper.output).not.toMatch(/trackSocketIO\(io\) from @reload\/core was not called/)
    process.stdout.write(`socket.io, ${workers} worker(s): 50 clients, ${sent} emits, ${lost} lost; all moved ${moves.map((ms) => `${ms} ms`).join(', ')} after each roll\n`)
  })
})

describe('Socket.IO with long-polling under reload run --workers 2', () => {
  it('each worker says at start that long-polling needs one worker, and what to set instead', async () => {
    const { keeper } = await runKeeper(fixtures, ['--workers', '2'], app)
    await keeper.waitFor(/2 workers ready on/, { timeout: 30_000 })
    const warnings = keeper.lines.filter(({ text }) => /\[RELOAD_SOCKET_IO_POLLING\] Warning: Socket\.IO's long-polling .* the 2 workers of reload run share one socket/.test(text))
    expect(warnings).toHaveLength(2)
    expect(keeper.output).toMatch(/transports: \['websocket'\], or run reload run with --workers 1/)
    process.kill(keeper.child.pid as number, 'SIGTERM')
    expect((await keeper.exited(30_000)).code).toBe(0)
  })
})

describe('Socket.IO without trackSocketIO(io) under reload run', () => {
  it('the worker names Socket.IO and the call it needs at its first Socket.IO request', async () => {
    const { keeper, port } = await runKeeper(fixtures, [], app, { UNTRACKED: '1' })
    await keeper.waitFor(/worker ready on/, { timeout: 30_000 })
    const client = io(`http://127.0.0.1:${port}`, { transports: ['polling'] })
    clients.push(client)
    await keeper.waitFor(/warn: Socket\.IO requests arrive, and trackSocketIO\(io\) from @reload\/core was not called: .* Call trackSocketIO\(io\) once the Socket\.IO server is attached/, { timeout: 10_000 })
    client.disconnect()
    process.kill(keeper.child.pid as number, 'SIGTERM')
    expect((await keeper.exited(30_000)).code).toBe(0)
  })
})
