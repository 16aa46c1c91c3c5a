// Checked by `pnpm typecheck` (tsc): the public types users write against.
import http from 'node:http'
import http2 from 'node:http2'
import { WebSocket, WebSocketServer } from 'ws'
import { expectTypeOf } from 'vitest'
import { defaults, eventStream, reloader, ReloadError, trackWebSockets, type ReloadErrorCode, type ReloadOptions, type ReloadState, type UpgradeResult } from '../src/index.js'

const r = reloader({ readyTimeout: 5000, logger: console })
expectTypeOf(r.listen(http.createServer(), 8080)).toEqualTypeOf<http.Server>()
expectTypeOf(r.upgrade()).resolves.toEqualTypeOf<UpgradeResult>()
expectTypeOf(r.state).toEqualTypeOf<ReloadState>()
expectTypeOf(r.attach(http.createServer())).toEqualTypeOf<() => void>()
expectTypeOf(r.beforeExit(async () => {})).toEqualTypeOf<() => void>()
expectTypeOf(new ReloadError('ERR_RELOAD_IN_PROGRESS', 'x').code).toEqualTypeOf<ReloadErrorCode>()
expectTypeOf(defaults).toHaveProperty('readyTimeout').toBeNumber()
expectTypeOf<{ drainTimeout: '30s' }>().not.toMatchTypeOf<ReloadOptions>()
r.on('upgrade', (result) => expectTypeOf(result).toEqualTypeOf<UpgradeResult>())
r.on('exit', ({ code, cut }) => {
  expectTypeOf(code).toEqualTypeOf<number>()
  expectTypeOf(cut.requests).toEqualTypeOf<number>()
})

// listen() has server.listen()'s call shapes, and refuses what server.listen() refuses.
const server = http.createServer()
expectTypeOf(r.listen(server, 8080, '127.0.0.1', () => {})).toEqualTypeOf<http.Server>()
expectTypeOf(r.listen(server, 8080, '127.0.0.1', 511, () => {})).toEqualTypeOf<http.Server>()
expectTypeOf(r.listen(server, '/run/app.sock', () => {})).toEqualTypeOf<http.Server>()
expectTypeOf(r.listen(server, { port: 0, host: '::1', fdName: 'http' }, () => {})).toEqualTypeOf<http.Server>()
expectTypeOf(r.listen(server, () => {})).toEqualTypeOf<http.Server>()
// @ts-expect-error a port is a number or a string, not a boolean
r.listen(server, true)
// @ts-expect-error the backlog is a number
r.listen(server, 8080, 'localhost', 'many')
expectTypeOf(r.detach).toEqualTypeOf<() => void>()
expectTypeOf(r.waitForParent()).resolves.toBeVoid()
expectTypeOf(r.parentPid).toEqualTypeOf<number | undefined>()
r.on('parentExit', ({ pid }) => expectTypeOf(pid).toEqualTypeOf<number>())

// Long-lived connections: ws's own types fit trackWebSockets(), Node's and HTTP/2's responses fit eventStream().
{
  const wss = new WebSocketServer({ noServer: true })
  expectTypeOf(trackWebSockets(wss)).toEqualTypeOf<() => void>()
  trackWebSockets(new WebSocketServer({ server: http.createServer() }), { code: 1001, reason: 'bye', closeTimeout: 500 })
  // @ts-expect-error a server, not a client
  trackWebSockets(new WebSocket('ws://127.0.0.1:1'))
  http.createServer((req, res) => {
    const stream = eventStream(req, res, { retry: 1000 })
    expectTypeOf(stream.lastEventId).toEqualTypeOf<string | undefined>()
    expectTypeOf(stream.send({ id: 1, data: { any: 'value' } })).toEqualTypeOf<boolean>()
    expectTypeOf(stream.signal).toEqualTypeOf<AbortSignal>()
  })
  http2.createServer().on('request', (req, res) => { eventStream(req, res).close() })
  expectTypeOf(r.goingAway(() => {})).toEqualTypeOf<() => void>()
}
