import { describe, expect, it } from 'vitest'
import { until } from '@reload/test-helpers'
import { GoAway } from '../src/drain/goaway.js'
import { resolveOptions } from '../src/generation/options.js'

function recorder (): { times: number[], close: () => void } {
  const times: number[] = []
  return { times, close: () => { times.push(Date.now()) } }
}

describe('GoAway', () => {
  it('calls nothing before the drain begins, then each connection once within the window, spread out', async () => {
    const goAway = new GoAway()
    const r = recorder()
    for (let i = 0; i < 40; i++) goAway.schedule(r.close)
    // Forty registrations of one function are one connection.
    expect(goAway.size).toBe(1)
    const closes = Array.from({ length: 40 }, () => recorder())
    for (const c of closes) goAway.schedule(c.close)
    expect(goAway.size).toBe(41)
    expect(closes.every((c) => c.times.length === 0)).toBe(true)
    const start = Date.now()
    goAway.begin(400)
    // r's moment is as random as the others': waiting for the forty alone failed 1 run in 41.
    await until(() => closes.every((c) => c.times.length === 1) && r.times.length === 1, 'every connection told to go away', { timeout: 5000 })
    const delays = closes.map((c) => c.times[0]! - start).sort((a, b) => a - b)
    // Uniform over 400 ms: forty draws all in the first or last quarter would be a 1-in-10^23 event.
    expect(delays.at(-1)! - delays[0]!).toBeGreaterThan(200)
    expect(delays.at(-1)!).toBeLessThan(400 + 200)
    expect(goAway.size).toBe(0)
  })

  it('calls a connection registered after the drain began within what is left of the window', async () => {
    const goAway = new GoAway()
    goAway.begin(0)
    const r = recorder()
    goAway.schedule(r.close)
    await until(() => r.times.length === 1, 'the connection told to go away', { timeout: 2000 })
    expect(goAway.begun).toBe(true)
  })

  it('never calls a cancelled connection', async () => {
    const goAway = new GoAway()
    const cancelled = recorder()
    const kept = recorder()
    goAway.schedule(cancelled.close)()
    const cancelLater = goAway.schedule(cancelled.close)
    goAway.schedule(kept.close)
    goAway.begin(50)
    cancelLater()
    await until(() => kept.times.length === 1, 'the kept connection told to go away', { timeout: 2000 })
    expect(cancelled.times).toEqual([])
  })

  it('keeps what it has not called yet for the next drain after the way back', async () => {
    const goAway = new GoAway()
    const r = recorder()
    goAway.schedule(r.close)
    goAway.begin(60_000)
    goAway.reset()
    expect(goAway.begun).toBe(false)
    expect(goAway.size).toBe(1)
    goAway.begin(0)
    await until(() => r.times.length === 1, 'the connection told to go away', { timeout: 2000 })
  })
})

describe('goAwayWindow option', () => {
  it('defaults to 1 s, or half of a drainTimeout under 2 s', () => {
    expect(resolveOptions().goAwayWindow).toBe(1000)
    expect(resolveOptions({ drainTimeout: 600 }).goAwayWindow).toBe(300)
    expect(resolveOptions({ drainTimeout: 1200, shutdownDelay: 200 }).goAwayWindow).toBe(500)
    expect(resolveOptions({ drainTimeout: Infinity }).goAwayWindow).toBe(1000)
  })

  it('must be shorter than the drainTimeout budget', () => {
    expect(() => resolveOptions({ goAwayWindow: 30_000 })).toThrow(/goAwayWindow option should be shorter than drainTimeout \(30000 ms\)/)
    expect(() => resolveOptions({ goAwayWindow: 900, drainTimeout: 1000, shutdownDelay: 200 })).toThrow(/less shutdownDelay, 200 ms/)
    expect(() => resolveOptions({ goAwayWindow: -1 })).toThrow(expect.objectContaining({ code: 'ERR_RELOAD_INVALID_OPTION' }))
    expect(resolveOptions({ goAwayWindow: 0, drainTimeout: 0 }).goAwayWindow).toBe(0)
  })

  it('comes from RELOAD_GOAWAY_WINDOW, below the option set in code', () => {
    process.env.RELOAD_GOAWAY_WINDOW = '2500'
    try {
      expect(resolveOptions().goAwayWindow).toBe(2500)
      expect(resolveOptions({ goAwayWindow: 10 }).goAwayWindow).toBe(10)
      process.env.RELOAD_GOAWAY_WINDOW = 'soon'
      expect(() => resolveOptions()).toThrow(/goAwayWindow \(from RELOAD_GOAWAY_WINDOW\)/)
    } finally {
      delete process.env.RELOAD_GOAWAY_WINDOW
    }
  })
})
