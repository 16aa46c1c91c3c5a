import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { pingEvery, rssOf, sessionMembers, Supervisor, type Watched } from '../src/supervise.js'

function worker (pid: number, answersPing = true): Watched & { pings: number } {
  const w = { pid, answersPing, lastPong: 0, pings: 0, ping: () => { w.pings++ } }
  return w
}

function supervisor (options: { livenessTimeout: number, maxMemory?: number }, workers: Watched[], rss: Record<number, number> = {}): { s: Supervisor<Watched>, unresponsive: Array<[number, number]>, over: Array<[number, number]> } {
  const unresponsive: Array<[number, number]> = []
  const over: Array<[number, number]> = []
  const s = new Supervisor({ livenessTimeout: options.livenessTimeout, maxMemory: options.maxMemory }, {
    serving: () => workers,
    unresponsive: (w, silent) => unresponsive.push([w.pid, silent]),
    overMemory: (w, bytes) => over.push([w.pid, bytes])
  }, (pid) => rss[pid])
  return { s, unresponsive, over }
}

describe('Supervisor (a fake clock)', () => {
  it('pings every serving worker that answers pings, and reports one silent past the liveness timeout', () => {
    const a = worker(1)
    const b = worker(2)
    const { s, unresponsive } = supervisor({ livenessTimeout: 1000 }, [a, b])
    s.tick(250)
    expect([a.pings, b.pings]).toEqual([1, 1])
    a.lastPong = 900
    s.tick(1001)
    // b has not answered since 0: 1001 ms of silence.
    expect(unresponsive).toEqual([[2, 1001]])
    expect(a.pings).toBe(2)
    s.tick(1900)
    expect(unresponsive).toEqual([[2, 1001], [2, 1900]])
  })

  it('leaves alone a worker that never said it answers pings (an older @reload/core)', () => {
    const old = worker(3, false)
    const { s, unresponsive } = supervisor({ livenessTimeout: 100 }, [old])
    s.tick(10_000)
    expect(old.pings).toBe(0)
    expect(unresponsive).toEqual([])
  })

  it('liveness off (Infinity) pings nobody and reports nobody', () => {
    const a = worker(4)
    const { s, unresponsive } = supervisor({ livenessTimeout: Infinity }, [a])
    expect(s.isOn).toBe(false)
    s.tick(1e9)
    expect([a.pings, unresponsive.length]).toEqual([0, 0])
  })

  it('reports a worker whose resident memory passes the cap, looking at most every 500 ms', () => {
    const rss = { 5: 100, 6: 300 }
    const { s, over } = supervisor({ livenessTimeout: Infinity, maxMemory: 200 }, [worker(5), worker(6)], rss)
    expect(s.isOn).toBe(true)
    s.tick(500)
    expect(over).toEqual([[6, 300]])
    s.tick(600)
    expect(over).toHaveLength(1)
    s.tick(1000)
    expect(over).toEqual([[6, 300], [6, 300]])
  })

  it('pings four times within the timeout, at most once a second', () => {
    expect(pingEvery(1000)).toBe(250)
    expect(pingEvery(10_000)).toBe(1000)
    expect(pingEvery(40)).toBe(25)
  })
})

describe('/proc readings', () => {
  it('rssOf reads a live process and says undefined for a gone one', () => {
    expect(rssOf(process.pid)).toBeGreaterThan(10 * 1024 * 1024)
    expect(rssOf(2 ** 22 + 1)).toBeUndefined()
  })

  it("sessionMembers finds a session's processes, grandchildren included, and not those of other sessions", async () => {
    // A session leader with a child and a grandchild, and a process of the test's own session beside it.
    const leader = spawn('/bin/sh', ['-c', 'sleep 30 & (sleep 30 &) ; echo ready; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
    const other = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      await new Promise((resolve) => leader.stdout.once('data', resolve))
      const members = sessionMembers(leader.pid as number)
      expect(members).toContain(leader.pid)
      expect(members.length).toBe(3)
      expect(members).not.toContain(other.pid)
      expect(members).not.toContain(process.pid)
    } finally {
      for (const pid of sessionMembers(leader.pid as number)) process.kill(pid, 'SIGKILL')
      other.kill('SIGKILL')
    }
  })
})
