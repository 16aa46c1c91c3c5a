import { lstatSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, isAlive, Load, startProcess, startServer, tempDir } from '@reload/test-helpers'

// Issue "Hardening", cases 3 and 4: the pid file.
const app = 'test/faults/fixtures/hardening-app.js'
// Not even root can create a file under /proc.
const unwritable = '/proc/reload-nope/app.pid'

afterEach(closeAll)

describe('pid file (hardening cases 3 and 4)', () => {
  it('case 3: a symlink planted at the temporary name of the pid file is not followed: the victim file stays as it was', async () => {
    const dir = tempDir()
    const pidFile = join(dir, 'app.pid')
    const victim = join(dir, 'victim')
    writeFileSync(victim, 'precious\n')
    const { fixture, pid } = await startServer(app, { env: { PID_FILE: pidFile } })
    expect(readFileSync(pidFile, 'utf8')).toBe(`${pid}\n`)
    // The temporary name used to be `.<basename>.<pid>.tmp`: plant it for every pid the next generation
    // can get (pids are handed out in order from the last one; the other test worker's processes take
    // hundreds meanwhile on a busy run, so the range is wide).
    // Past pid_max (32768 on many machines) the kernel goes on from 300, the first pid it hands out again.
    const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'))
    const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'))
    const planted = new Set<number>()
    for (let k = 1; k <= 5000; k++) {
      const n = last + k < max ? last + k : last + k - max + 300
      symlinkSync(victim, join(dir, `.app.pid.${n}.tmp`))
      planted.add(n)
    }
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect(planted.has(next)).toBe(true)
    await fixture.gone(pid)
    expect(readFileSync(victim, 'utf8')).toBe('precious\n')
    expect(lstatSync(pidFile).isFile()).toBe(true)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${next}\n`)
    expect(readlinkSync(join(dir, `.app.pid.${next}.tmp`))).toBe(victim)
  })

  it('case 4: a new generation that cannot write the pid file does not serve: ERR_RELOAD_CHILD_FAILED, the old pid serves on, 0 failed', async () => {
    const dir = tempDir()
    const pidFile = join(dir, 'app.pid')
    const configFile = join(dir, 'config.json')
    writeFileSync(configFile, JSON.stringify({ pidFile }))
    const { fixture, url, pid } = await startServer(app, { env: { CONFIG_FILE: configFile } })
    const load = new Load(url, { connections: 8 }).start()
    await load.servedBy(pid, 20)
    writeFileSync(configFile, JSON.stringify({ pidFile: unwritable }))
    fixture.signal('SIGHUP', pid)
    const { match } = await fixture.waitFor(/starting generation 2 \(child=(\d+)/)
    const next = Number(match[1])
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: error: handover failed, pid ${pid} keeps serving: ` +
      `new generation \\(pid ${next}\\) failed before it was ready: could not write pidFile /proc/reload-nope/app\\.pid .*\\(code=ERR_RELOAD_CHILD_FAILED\\)$`))
    await fixture.gone(next)
    // Served after the failure: by the old pid only.
    const before = load.outcomes.length
    await load.until((outcomes) => outcomes.length >= before + 50, '50 more responses')
    const outcomes = await load.stop()
    expect(load.failures).toEqual([])
    expect(new Set(outcomes.slice(before).map((o) => o.pid))).toEqual(new Set([pid]))
    expect(isAlive(pid)).toBe(true)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${pid}\n`)
    expect(fixture.output).toMatch(new RegExp(`^reload\\[${next}\\]: error: could not write pidFile /proc/reload-nope/app\\.pid .*\\(code=ERR_RELOAD_PID_FILE\\)$`, 'm'))
    expect(fixture.output).not.toMatch(/generation 2 ready/)
  })

  it('case 4: a cold start with an unwritable pid file exits 1 with ERR_RELOAD_PID_FILE', async () => {
    const fixture = startProcess(app, { env: { PID_FILE: unwritable } })
    await fixture.waitFor(/could not write pidFile \/proc\/reload-nope\/app\.pid .*not serving.*\(code=ERR_RELOAD_PID_FILE\)$/)
    expect(await fixture.exited()).toEqual({ code: 1, signal: null })
    expect(fixture.output).not.toMatch(/generation 1 ready/)
  })
})
