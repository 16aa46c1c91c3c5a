import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, Load, startServer } from '@reload/test-helpers'

// Issue "Hardening", case 8: the way back. A new generation that dies while the old one drains hands
// nothing to nobody: the old one takes the listening sockets back (with every queued connection) and serves.
const app = 'test/faults/fixtures/hardening-app.js'

afterEach(closeAll)

describe('the way back (hardening case 8)', () => {
  it('case 8: the new generation SIGKILLed right after ready: the old one takes the listeners back and serves; 0 refused', async () => {
    const { fixture, url, pid } = await startServer(app)
    const load = new Load(url, { connections: 8 }).start()
    await load.servedBy(pid, 20)
    // Keeps generation 1 draining through the whole test.
    const slow = await fixture.inFlight(`${url}/?sleep=5`)
    fixture.signal('SIGHUP', pid)
    const killed = await fixture.ready(2)
    await load.servedBy(killed)
    fixture.signal('SIGKILL', killed)
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: warn: generation 2 died \\(SIGKILL\\) while pid ${pid} drained: taking the listeners back \\(child=${killed}\\)$`))
    const back = await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: warn: generation 1 serves again \\(generation=1\\)$`))
    await fixture.waitFor(new RegExp(`^rollback event: generation 2 \\(pid ${killed}\\) died by SIGKILL; pid=${pid} serves again$`))
    const servingAgain = (fixture.lines[back.index] as { at: number }).at
    await load.until((outcomes) => outcomes.filter((o) => o.start > servingAgain).length >= 50, '50 responses to requests sent after the way back')

    // A later SIGHUP works: a new generation serves, and the old one exits once its slow request is done.
    const resent = Date.now()
    fixture.signal('SIGHUP', pid)
    const next = Number((await fixture.waitFor(/^reload\[(\d+)\]: generation 2 ready \(/, { from: back.index })).match[1])
    await load.servedBy(next, 20)
    expect(await slow.response).toMatchObject({ status: 200, body: `ospid:${pid}` })
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
    const outcomes = await load.stop()
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)

    expect(outcomes.filter((o) => o.error === 'ECONNREFUSED')).toEqual([])
    // The only failures: requests in flight on the killed pid's connections, at most one per connection,
    // all before the old generation served again.
    const failures = load.failures
    expect(failures.length).toBeLessThanOrEqual(8)
    for (const failure of failures) {
      expect(failure.status).toBeUndefined()
      expect(['ECONNRESET', 'socket hang up']).toContain(failure.error)
      expect(failure.start).toBeLessThan(servingAgain)
    }
    const between = outcomes.filter((o) => o.start > servingAgain && o.start + o.ms <= resent)
    expect(between.length).toBeGreaterThanOrEqual(50)
    expect(new Set(between.map((o) => o.pid))).toEqual(new Set([pid]))
    expect(new Set(outcomes.filter((o) => o.error === undefined).map((o) => o.pid))).toEqual(new Set([pid, killed, next]))
    expect(fixture.output.match(/taking the listeners back/g)).toHaveLength(1)
  })

  it('case 8: a new generation stopped on purpose (SIGTERM) while the old one drains is not taken back', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = await fixture.inFlight(`${url}/?sleep=2`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
    // A request the stopped generation still has when a second SIGTERM cuts it: it exits 1, not 0.
    const cut = await fixture.inFlight(`${url}/?sleep=30`)
    expect(cut.pid).toBe(next)
    fixture.signal('SIGTERM', next)
    await fixture.waitFor(new RegExp(`^reload\\[${next}\\]: draining \\(requests=1 connections=1\\)$`))
    fixture.signal('SIGTERM', next)
    await fixture.waitFor(new RegExp(`^reload\\[${next}\\]: exiting \\(code=1\\)$`))
    await fixture.gone(next)
    expect((await cut.response).error).toBeDefined()
    expect(await slow.response).toMatchObject({ status: 200, body: `ospid:${pid}` })
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
    expect(fixture.output).not.toMatch(/taking the listeners back|serves again|rollback event/)
  })
})
