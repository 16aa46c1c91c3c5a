import { afterEach, describe, expect, it } from 'vitest'
import { get, keepAliveAgent, Load, startServer } from '@reload/test-helpers'
import { app, childPid, cleanUp, copyOf, draining, servedBy, track } from './helpers.js'

afterEach(cleanUp)

const connections = 8

describe('signals to the old generation during a handover', () => {
  it('SIGTERM while the new generation starts: the new one is stopped, the old one drains and exits 0, nothing served fails', async () => {
    const copy = copyOf()
    try {
      const { fixture, url, pid } = await startServer(copy.path)
      const load = track(new Load(url, { connections }).start())
      await load.servedBy(pid, 20)
      // The new generation listens (and so shares the accept queue) but is not ready for 20 s: the
      // SIGTERM lands in the middle of the handover, whatever the machine's speed.
      copy.write((source) => `process.env.WARMUP_MS = '20000'\n${source}`)
      // A socket of the old pid, for a slow request sent once the new one accepts too.
      const agent = keepAliveAgent(url, { maxSockets: 1 })
      expect((await get(`${url}/`, { agent })).body).toBe(`ospid:${pid}`)
      fixture.signal('SIGHUP', pid)
      const starting = await fixture.waitFor(/starting generation 2 \(child=(\d+)/)
      const next = Number(starting.match[1])
      await fixture.waitFor(new RegExp(`^listening on \\S+ \\(pid ${next}\\)`), { from: starting.index })
      const slow = await fixture.inFlight(`${url}/?sleep=1`, { agent })
      expect(slow.pid).toBe(pid)
      fixture.signal('SIGTERM', pid)
      // No request after the signal: what was sent before it must all be answered.
      const outcomes = await load.stop()
      const aborted = await fixture.waitFor(/error: handover failed, pid (\d+) drains: handover to pid \d+ abandoned: this generation is shutting down \(code=ERR_RELOAD_ABORTED\)/)
      expect([Number(aborted.match[1]), childPid(aborted.match[0])]).toEqual([pid, next])
      await fixture.gone(next)
      const old = await slow.response
      agent.destroy()
      expect([old.status, old.body, old.headers?.connection]).toEqual([200, `ospid:${pid}`, 'close'])
      expect(await fixture.exit).toEqual({ code: 0, signal: null })
      expect(load.failures).toEqual([])
      // The load's keep-alive sockets were all the old generation's: the new one served nothing.
      expect(servedBy(outcomes)).toEqual({ [pid]: outcomes.length })
      expect(fixture.output).not.toMatch(/generation 2 ready/)
      console.info(`SIGTERM mid-handover: ${outcomes.length + 2} requests, ${load.failures.length} failed, served by ${JSON.stringify(servedBy(outcomes))}; stopped ${next}`)
    } finally {
      copy.remove()
    }
  })

  it('SIGKILL of the old generation mid-drain: the new one serves on, and only the request in flight on the old one fails', async () => {
    const { fixture, url, pid } = await startServer(app)
    const load = track(new Load(url, { connections }).start())
    await load.servedBy(pid, 20)
    const slow = await fixture.inFlight(`${url}/?sleep=30`)
    expect(slow.pid).toBe(pid)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await draining(fixture, pid)
    // Each of the load's sockets (all opened on the old pid, before the handover) ends with one answer that
    // says Connection: close, then reconnects to the new pid. Once all have, only the slow request is left.
    const closed = (): number => load.outcomes.filter((o) => o.pid === pid && o.headers?.connection === 'close').length
    await load.until(() => closed() === connections, `${connections} answers with Connection: close from pid ${pid}`)
    fixture.signal('SIGKILL', pid)
    expect((await slow.response).error).toBe('ECONNRESET')
    expect(await fixture.exit).toEqual({ code: null, signal: 'SIGKILL' })
    const before = load.outcomes.length
    await load.until((outcomes) => outcomes.slice(before).filter((o) => o.pid === next).length >= 50, `50 answers from pid ${next} after the SIGKILL`)
    // The new generation knows its parent is gone: its own handover does not wait for a drain.
    fixture.signal('SIGHUP', next)
    const third = await fixture.ready(3)
    await fixture.gone(next)
    await load.servedBy(third, 20)
    const outcomes = await load.stop()
    expect(load.failures).toEqual([])
    expect(closed()).toBe(connections)
    expect(Object.keys(servedBy(outcomes)).map(Number).sort()).toEqual([pid, next, third].sort())
    expect((await get(`${url}/`)).body).toBe(`ospid:${third}`)
    console.info(`SIGKILL mid-drain: ${outcomes.length + 1} requests, 1 failed (the one in flight on the killed pid), ` +
      `served by ${JSON.stringify(servedBy(outcomes))} (killed ${pid}, then ${next}, then ${third})`)
  })
})
