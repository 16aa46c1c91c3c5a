import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, startServer } from '@reload/test-helpers'

// Issue "Hardening", case 1: a timeout beyond what a Node timer holds (2^31 - 1 ms) means "no limit",
// not "fire after 1 ms with a TimeoutOverflowWarning".
const app = 'test/faults/fixtures/hardening-app.js'

afterEach(closeAll)

describe('timeouts beyond 2^31 - 1 ms (hardening case 1)', () => {
  it('case 1: RELOAD_DRAIN_TIMEOUT=3000000000 lets a slow request finish on SIGTERM: 200 from the old pid, exit 0', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { RELOAD_DRAIN_TIMEOUT: '3000000000' } })
    const slow = await fixture.inFlight(`${url}/?sleep=1.5`)
    expect(slow.pid).toBe(pid)
    fixture.signal('SIGTERM', pid)
    const outcome = await slow.response
    expect(outcome).toMatchObject({ status: 200, body: `ospid:${pid}` })
    expect(outcome.ms).toBeGreaterThanOrEqual(1400)
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
    expect(fixture.output).toMatch(/^reload\[\d+\]: drained/m)
    expect(fixture.output).not.toMatch(/TimeoutOverflowWarning|drainTimeout \(\d+ ms\) reached|cut \d+ requests/)
  })

  it('case 1: RELOAD_READY_TIMEOUT=1000000000000 does not fail the handover at once: generation 2 serves', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { RELOAD_READY_TIMEOUT: '1000000000000' } })
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.gone(pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
    expect(fixture.output).not.toMatch(/TimeoutOverflowWarning|ERR_RELOAD_READY_TIMEOUT|handover failed/)
  })
})
