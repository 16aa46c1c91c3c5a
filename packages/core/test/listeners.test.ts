import { describe, expect, it } from 'vitest'
import { normalizeListenArgs } from '../src/listen/address.js'

const cb = (): void => {}

describe('normalizeListenArgs()', () => {
  it.each([
    [[], { port: 0 }, false],
    [[8080], { port: 8080 }, false],
    [['8080'], { port: 8080 }, false],
    [[8080, '127.0.0.1'], { port: 8080, host: '127.0.0.1' }, false],
    [[8080, '::1', 128], { port: 8080, host: '::1', backlog: 128 }, false],
    [[8080, 64], { port: 8080, backlog: 64 }, false],
    [['/tmp/app.sock'], { path: '/tmp/app.sock', backlog: undefined }, false],
    [[{ port: 3000, host: 'localhost' }], { port: 3000, host: 'localhost' }, false],
    [[{ fd: 3 }], { fd: 3 }, true],
    [[{ handle: {} }], { handle: {} }, true]
  ])('%o', (args, options, passthrough) => {
    expect(normalizeListenArgs(args)).toEqual({ options, callback: undefined, passthrough })
    expect(normalizeListenArgs([...args, cb]).callback).toBe(cb)
  })
})
