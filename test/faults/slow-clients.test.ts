import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { keepAliveAgent, Load, marked, startServer } from '@reload/test-helpers'
import { app, cleanUp, draining, dribble, getOn, rawClient, servedBy, track } from './helpers.js'

afterEach(cleanUp)

// The drain closes idle and half-sent connections a tenth of this before it ends: 250 ms, enough for
// their close to land on a busy machine.
const drainTimeout = 2500
// Between the old generation's exit and the test seeing it (the exit event, a busy machine: 1.3 s late
// with the suite beside six busy loops). Still below what a drain that waited for the clients would take
// (5 s idle grace, 60 s headersTimeout).
const slack = 2400

describe('slow clients during a drain', () => {
  it('slowloris headers: the drain closes them and ends within drainTimeout, exit 0; other clients see 0 failures', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { RELOAD_DRAIN_TIMEOUT: String(drainTimeout) } })
    const exited = fixture.exit.then((exit) => ({ ...exit, at: Date.now() }))
    const load = track(new Load(url, { connections: 8 }).start())
    await load.servedBy(pid, 20)
    // A fresh connection that sends its request line and headers a byte at a time and never ends them.
    const fresh = rawClient(url)
    fresh.socket.write('GET /?sleep=0 HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    dribble(fresh.socket, 'x')
    // A keep-alive connection that got an answer from the old pid, then dribbles its next request's headers.
    const kept = rawClient(url)
    const { url: first, id } = marked('/?sleep=0')
    kept.socket.write(`GET ${first} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect(await fixture.arrival(id)).toBe(pid)
    await kept.until(/\r\n\r\nospid:\d+$/)
    expect(kept.received()).toMatch(new RegExp(`^HTTP/1.1 200 OK\\r\\n[\\s\\S]*Connection: keep-alive\\r\\n[\\s\\S]*ospid:${pid}$`))
    kept.socket.write('GET /?sleep=0 HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    dribble(kept.socket, 'x')
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    const ready = Date.now()
    const start = (await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining \\(requests=\\d+ connections=(\\d+)\\)`))).match
    // The load's 8 sockets and both slow ones: the old pid has them all.
    expect(Number(start[1])).toBe(10)
    const exit = await exited
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null })
    expect(exit.at - ready).toBeLessThan(drainTimeout + slack)
    expect(fixture.output).toMatch(new RegExp(`^reload\\[${pid}\\]: drained`, 'm'))
    // Closed by the drain ("drained", not cut), with no answer: neither ever sent a whole request.
    await Promise.all([fresh.closed, kept.closed])
    expect(fresh.received()).toBe('')
    expect(kept.received()).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*ospid:\d+$/)
    await load.servedBy(next, 20)
    const outcomes = await load.stop()
    expect(load.failures).toEqual([])
    expect(Object.keys(servedBy(outcomes)).map(Number).sort()).toEqual([pid, next].sort())
    console.info(`slowloris: drain over ${exit.at - ready} ms after ready (drainTimeout ${drainTimeout}), exit 0; ` +
      `${outcomes.length} other requests, ${load.failures.length} failed, served by ${JSON.stringify(servedBy(outcomes))}`)
  })

  it('a slow POST body: cut at drainTimeout (the one request), exit 1; other clients see 0 failures', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { RELOAD_DRAIN_TIMEOUT: String(drainTimeout) } })
    const exited = fixture.exit.then((exit) => ({ ...exit, at: Date.now() }))
    const load = track(new Load(url, { connections: 8 }).start())
    await load.servedBy(pid, 20)
    const post = rawClient(url)
    const { url: path, id } = marked('/upload')
    post.socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n`)
    expect(await fixture.arrival(id)).toBe(pid)
    // 10 bytes every 100 ms: the million would take a day.
    dribble(post.socket, '0123456789')
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    const ready = Date.now()
    await draining(fixture, pid)
    const exit = await exited
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 1, signal: null })
    // The ready line and the exit reach the test each a little late; the cut is never early by much.
    expect(exit.at - ready).toBeGreaterThanOrEqual(drainTimeout - 250)
    expect(exit.at - ready).toBeLessThan(drainTimeout + slack)
    expect(fixture.output).toMatch(new RegExp(`^reload\\[${pid}\\]: warn: drainTimeout \\(${drainTimeout} ms\\) reached: cut 1 requests on 1 connections`, 'm'))
    await post.closed
    expect(post.received()).toBe('')
    await load.servedBy(next, 20)
    const outcomes = await load.stop()
    expect(load.failures).toEqual([])
    expect(Object.keys(servedBy(outcomes)).map(Number).sort()).toEqual([pid, next].sort())
    console.info(`slow POST: cut ${exit.at - ready} ms after ready (drainTimeout ${drainTimeout}), exit 1, 1 request cut; ` +
      `${outcomes.length} other requests, ${load.failures.length} failed, served by ${JSON.stringify(servedBy(outcomes))}`)
  })
})

describe('idle keep-alive sockets after a HUP', () => {
  it('reused 50 ms, 500 ms, 2 s and 10 s after the drain starts: old pid with Connection: close within the grace, a fresh connection to the new pid after; 0 resets', async () => {
    // The app keeps Node's keepAliveTimeout (5 s), so each idle socket's grace is 5 s from the drain.
    const { fixture, url, pid } = await startServer(app)
    const load = track(new Load(url, { connections: 8 }).start())
    await load.servedBy(pid, 20)
    const delays = [50, 500, 2000, 10_000]
    const agents = delays.map(() => keepAliveAgent(url, { maxSockets: 1 }))
    try {
      const firsts = await Promise.all(agents.map(async (agent) => await getOn(agent, `${url}/`)))
      expect(firsts.map((o) => [o.status, o.pid, o.headers?.connection])).toEqual(delays.map(() => [200, pid, 'keep-alive']))
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      const drainStart = await draining(fixture, pid)
      // The delays are the test: each socket stays idle that long after the drain began, then sends.
      const reuses = await Promise.all(delays.map(async (ms, i) => {
        await sleep(Math.max(0, drainStart + ms - Date.now()))
        return await getOn(agents[i] as ReturnType<typeof keepAliveAgent>, `${url}/`)
      }))
      const seen = reuses.map((o) => ({ status: o.status, pid: o.pid, connection: o.headers?.connection, reused: o.reused, error: o.error }))
      expect(seen).toEqual([
        { status: 200, pid, connection: 'close', reused: true, error: undefined },
        { status: 200, pid, connection: 'close', reused: true, error: undefined },
        { status: 200, pid, connection: 'close', reused: true, error: undefined },
        { status: 200, pid: next, connection: 'keep-alive', reused: false, error: undefined }
      ])
      // Past the grace the old generation had closed its idle socket and exited.
      expect(await fixture.exit).toEqual({ code: 0, signal: null })
      const outcomes = await load.stop()
      expect(load.failures).toEqual([])
      expect(Object.keys(servedBy(outcomes)).map(Number).sort()).toEqual([pid, next].sort())
      console.info(`idle sockets: reuses at ${delays.join('/')} ms served by ${reuses.map((o) => o.pid === pid ? 'old' : 'new').join('/')}, ` +
        `0 resets; load ${outcomes.length} requests, ${load.failures.length} failed, served by ${JSON.stringify(servedBy(outcomes))}`)
    } finally {
      for (const agent of agents) agent.destroy()
    }
  })
})
