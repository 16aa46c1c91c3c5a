import { spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, Fixture, get, Load, nodeArgs, root, startProcess } from '@reload/test-helpers'

// Issue "Hardening", case 7: SIGHUP to a whole process group, and reload signals no process can use.
const app = 'test/faults/fixtures/hardening-app.js'

const own = new Set<Fixture>()

afterEach(async () => {
  await Promise.all([...own].map(async (fixture) => await fixture.close()))
  own.clear()
  await closeAll()
})

/**
 * Starts the app as the leader of its own process group (startProcess() leaves it in the runner's), so
 * that `kill -HUP -<pgid>` reaches the app and whatever it spawned into its group, never the test runner.
 */
async function startGroupLeader (extraEnv: Record<string, string> = {}): Promise<{ fixture: Fixture, url: string, pid: number }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RELOAD|LISTEN)_/.test(name)))
  const child = spawn(process.execPath, nodeArgs(app).slice(1), { cwd: root, env: { ...env, PORT: '0', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const fixture = new Fixture(child)
  own.add(fixture)
  const { match } = await fixture.waitFor(/listening on (http:\/\/\S+)/)
  return { fixture, url: match[1] as string, pid: await fixture.ready(1) }
}

describe('signals (hardening case 7)', () => {
  it('case 7: 50 SIGHUPs to the whole process group start one handover and kill no generation: 0 failed', async () => {
    // Generation 2 starts 1.5 s slow: the storm surely goes on while it starts, however busy the machine.
    const { fixture, url, pid } = await startGroupLeader({ LISTEN_DELAY: '1500' })
    const load = new Load(url, { connections: 8 }).start()
    await load.servedBy(pid, 20)
    let sent = 0
    // How many had been sent when generation 2 was spawned, and when it was ready.
    let startedAt = -1
    let readyAt = -1
    const answer = new RegExp(`^reload\\[${pid}\\]: (warn: )?SIGHUP (received|ignored)`)
    let heard = 0
    for (; sent < 50; sent++) {
      try {
        process.kill(-pid, 'SIGHUP')
      } catch (err) {
        // The group is gone once generation 1 has drained and exited: nobody is left in it to signal.
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') break
        throw err
      }
      if (startedAt < 0 && /starting generation 2/.test(fixture.output)) startedAt = sent
      if (readyAt < 0 && /generation 2 ready/.test(fixture.output)) readyAt = sent
      // The next one only once generation 1 has answered this one (signals of one kind sent before it
      // handles them merge into one), or has exited.
      const answered = fixture.waitFor(answer, { from: heard, timeout: 10_000 }).then(({ index }) => index + 1)
      const next = await Promise.race([answered, fixture.exit.then(() => undefined)])
      if (next === undefined) { sent++; break }
      heard = next
    }
    const next = await fixture.ready(2)
    const first = await fixture.exited()
    await load.servedBy(next, 40)
    const outcomes = await load.stop()
    expect(fixture.output).not.toMatch(/exited with SIGHUP|generation 3|handover failed/)
    // One handover. A start that the storm killed between fork and setsid (before it ran a line) is
    // started again within it, and says so.
    expect(fixture.output.match(/starting generation \d+ \(/g)).toEqual(['starting generation 2 ('])
    expect(first).toEqual({ code: 0, signal: null })
    expect(load.failures).toEqual([])
    expect(new Set(outcomes.map((o) => o.pid))).toEqual(new Set([pid, next]))
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
    // The storm went on while generation 2 started, before it could handle a SIGHUP.
    expect(startedAt).toBeGreaterThanOrEqual(0)
    expect((readyAt < 0 ? sent : readyAt) - startedAt).toBeGreaterThanOrEqual(5)
    expect(fixture.output).toMatch(new RegExp(`^reload\\[${pid}\\]: warn: SIGHUP ignored: (a handover is already in progress|this generation is draining)`, 'm'))
  })

  it.for(['SIGKILL', 'SIGSTOP', 'SIGTERM'])('case 7: %s as the reload signal is refused at start with ERR_RELOAD_INVALID_OPTION', async (signal) => {
    const fixture = startProcess(app, { env: { SIGNAL: signal } })
    expect(await fixture.exited()).toEqual({ code: 1, signal: null })
    expect(fixture.output).toMatch(new RegExp(`ReloadError: signal option should be .*, instead got '${signal}'`))
    expect(fixture.output).toMatch(/code: 'ERR_RELOAD_INVALID_OPTION'/)
    expect(fixture.output).not.toMatch(/listening on/)
  })
})
