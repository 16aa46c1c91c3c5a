import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, isAlive, Load, startServer, tempDir, until, type Outcome } from '@reload/test-helpers'

// Issue "Hardening", cases 2 and 9: generations that are abandoned, and how many may live at once.
const app = 'test/faults/fixtures/hardening-app.js'

afterEach(closeAll)

describe('generations (hardening cases 2 and 9)', () => {
  it('case 2: a generation abandoned before ready is stopped with SIGTERM and drains what it took: 0 failed', async () => {
    const configFile = join(tempDir(), 'config.json')
    const { fixture, url, pid } = await startServer(app, { env: { CONFIG_FILE: configFile, RELOAD_READY_TIMEOUT: '1500' } })
    writeFileSync(configFile, JSON.stringify({ neverReady: true }))
    fixture.signal('SIGHUP', pid)
    const { match } = await fixture.waitFor(/starting generation 2 \(child=(\d+)/)
    const abandoned = Number(match[1])
    // Both generations accept on the one socket once the new one listens, and which one wins a connection
    // is up to the scheduler: the old one, stopped, leaves them to the new one. Stopped from the new one's
    // spawn, its readyTimeout cannot run out before the new one has taken them, however slow that start is.
    const load = new Load(url, { connections: 8, slowEvery: 4, slow: 0.3 })
    let slow: Promise<Outcome>
    fixture.signal('SIGSTOP', pid)
    try {
      await fixture.waitFor(new RegExp(`^listening on \\S+ \\(pid ${abandoned}\\)$`), { timeout: 20_000 })
      // Outlives the old code's 5 s grace between SIGTERM and SIGKILL.
      const inFlight = await fixture.inFlight(`${url}/?sleep=7`, { timeout: 20_000 })
      expect(inFlight.pid).toBe(abandoned)
      slow = inFlight.response
      load.start()
      await load.servedBy(abandoned, 8)
    } finally {
      fixture.signal('SIGCONT', pid)
    }
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: error: handover failed, pid ${pid} keeps serving: new generation \\(pid ${abandoned}\\) ` +
      'was not ready within readyTimeout \\(1500 ms\\).*\\(code=ERR_RELOAD_READY_TIMEOUT\\)$'))
    await fixture.waitFor(new RegExp(`^reload\\[${abandoned}\\]: SIGTERM received$`))
    expect(await slow).toMatchObject({ status: 200, body: `ospid:${abandoned}` })
    await fixture.waitFor(new RegExp(`^reload\\[${abandoned}\\]: exiting \\(code=0\\)$`))
    await fixture.gone(abandoned)
    const after = load.outcomes.length
    await load.until((outcomes) => outcomes.length >= after + 40, '40 responses after the abandoned generation exited')
    const outcomes = await load.stop()
    expect(load.failures).toEqual([])
    const servedBy = (p: number): number => outcomes.filter((o) => o.pid === p).length
    expect(servedBy(abandoned)).toBeGreaterThanOrEqual(8)
    expect(servedBy(pid)).toBeGreaterThanOrEqual(40)
    expect(servedBy(pid) + servedBy(abandoned)).toBe(outcomes.length)
    expect(new Set(outcomes.slice(after).map((o) => o.pid))).toEqual(new Set([pid]))
    expect(isAlive(pid)).toBe(true)
    expect(fixture.output).not.toMatch(/generation 2 ready|ECONNRESET/)
  })

  it('case 9: at most two generations live: generation 3 waits until generation 1 has drained', async () => {
    const { fixture, url, pid: first } = await startServer(app)
    const generations = (): number[] => [first, ...fixture.lines.flatMap((l) => {
      const m = /starting generation \d+ \(child=(\d+)/.exec(l.text)
      return m === null ? [] : [Number(m[1])]
    })]
    // A process that exits closes its fds (the link: generation 2 may start generation 3 from then on) a
    // moment before it turns zombie: one with no fd left is no longer a generation that lives.
    const lives = (pid: number): boolean => {
      if (!isAlive(pid)) return false
      try { return readdirSync(`/proc/${pid}/fd`).length > 0 } catch { return false }
    }
    let most = 0
    const sampler = setInterval(() => { most = Math.max(most, generations().filter(lives).length) }, 5)
    try {
      const slow = await fixture.inFlight(`${url}/?sleep=3`)
      expect(slow.pid).toBe(first)
      fixture.signal('SIGHUP', first)
      const second = await fixture.ready(2)
      await fixture.waitFor(new RegExp(`^reload\\[${first}\\]: draining`))
      fixture.signal('SIGHUP', second)
      await fixture.waitFor(new RegExp(`^reload\\[${second}\\]: generation 3 waits until pid ${first} has drained \\(parent=${first}\\)$`))
      expect(isAlive(first)).toBe(true)
      expect(fixture.output).not.toMatch(/starting generation 3/)
      const third = await fixture.ready(3)
      expect(isAlive(first)).toBe(false)
      expect((await slow.response)).toMatchObject({ status: 200, body: `ospid:${first}` })
      expect(fixture.index(`reload[${first}]: exiting (code=0)`)).toBeLessThan(fixture.lines.findIndex((l) => l.text.includes('starting generation 3')))
      await fixture.gone(second)
      expect((await get(`${url}/`)).body).toBe(`ospid:${third}`)
      expect(generations()).toEqual([first, second, third])
      await until(() => generations().filter(isAlive).length === 1, 'only generation 3 lives')
    } finally {
      clearInterval(sampler)
    }
    expect(most).toBe(2)
  })
})
