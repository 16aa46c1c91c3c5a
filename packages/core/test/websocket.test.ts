import { describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { trackWebSockets } from '../src/longlived/websocket.js'

describe('trackWebSockets()', () => {
  it('takes a ws server, attached or not, with or without client tracking, and uninstalls', () => {
    for (const options of [{ noServer: true }, { noServer: true, clientTracking: false }]) {
      const wss = new WebSocketServer(options)
      const before = wss.listenerCount('connection')
      const uninstall = trackWebSockets(wss)
      expect(wss.listenerCount('connection')).toBe(before + 1)
      uninstall()
      expect(wss.listenerCount('connection')).toBe(before)
      wss.close()
    }
  })

  it.each([
    [null, /takes a WebSocket server/],
    [{}, /takes a WebSocket server/],
    [Object.create(WebSocket.prototype) as object, /takes a WebSocket server/]
  ])('refuses %o with ERR_RELOAD_INVALID_OPTION', (wss, message) => {
    expect(() => trackWebSockets(wss as never)).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION', message: expect.stringMatching(message) }))
  })

  it.each([
    [{ code: 999 }, /code option should be a WebSocket close code \(1000 to 4999, 1001 is Going Away\), instead got 999/],
    [{ closeTimeout: -5 }, /closeTimeout option should be a number of milliseconds >= 0, instead got -5/],
    [{ reason: 'x'.repeat(124) }, /reason option should be a string of at most 123 bytes/]
  ])('refuses the option %o', (options, message) => {
    const wss = new WebSocketServer({ noServer: true })
    expect(() => trackWebSockets(wss, options)).toThrow(message)
    wss.close()
  })
})
