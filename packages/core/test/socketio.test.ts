import { describe, expect, it } from 'vitest'
import { trackSocketIO } from '../src/longlived/socketio.js'

describe('trackSocketIO()', () => {
  it.each([
    [null],
    [{}],
    [{ engine: {} }],
    [{ engine: { on: () => {}, off: () => {} } }]
  ])('refuses %o with ERR_RELOAD_INVALID_OPTION', (io) => {
    expect(() => trackSocketIO(io as never)).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION', message: expect.stringMatching(/takes a Socket\.IO server/) }))
  })
})
