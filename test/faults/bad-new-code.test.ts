import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { Load, startServer, until } from '@reload/test-helpers'
import { childPid, cleanUp, copyOf, draining, servedBy, track } from './helpers.js'

afterEach(cleanUp)

// For the new code that is never ready: short, to keep the suite quick, yet the good generation after the
// failure gets it too, and with eight test files at once on a slow 2-core CI machine a start took 2 s.
// New code that exits fails the handover at once, so those cases keep the default.
const readyTimeout = 5000

interface Bad {
  name: string
  /** Rewrites the app's source into the bad new code. */
  edit: (source: string) => string
  /** The error line the old generation logs. */
  error: RegExp
  /** A line the bad generation itself prints, if any. */
  says?: RegExp
  /** What the bad generation prints once it got there (it hangs or spins right after); these are never ready. */
  reaches?: 'hanging' | 'spinning'
}

// CPU time (user + system) `pid` has used, in clock ticks (1/100 s on Linux); -1 once it is gone.
function cpuTicks (pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return -1
  }
}

const cases: Bad[] = [
  {
    name: 'has a syntax error',
    edit: (source) => `${source}\nconst = 1\n`,
    error: /error: handover failed, pid (\d+) keeps serving: new generation \(pid \d+\) exited with code 1 before it was ready; .*\(code=ERR_RELOAD_CHILD_EXITED\)/,
    says: /SyntaxError/
  },
  {
    name: 'throws at start-up',
    edit: (source) => `throw new Error('broken build')\n${source}`,
    error: /error: handover failed, pid (\d+) keeps serving: new generation \(pid \d+\) exited with code 1 before it was ready; .*\(code=ERR_RELOAD_CHILD_EXITED\)/,
    says: /Error: broken build/
  },
  {
    name: 'hangs before listen',
    // Pending for ever; the interval keeps the process alive (a bare pending await would exit 13).
    edit: (source) => `console.log(\`hanging (pid \${process.pid})\`)\nawait new Promise(() => setInterval(() => {}, 1000))\n${source}`,
    reaches: 'hanging',
    error: new RegExp(`error: handover failed, pid (\\d+) keeps serving: new generation \\(pid \\d+\\) was not ready within readyTimeout \\(${readyTimeout} ms\\).*\\(code=ERR_RELOAD_READY_TIMEOUT\\)`)
  },
  {
    name: 'spins its event loop (CPU) before listen',
    edit: (source) => `console.log(\`spinning (pid \${process.pid})\`)\nfor (;;) {}\n${source}`,
    reaches: 'spinning',
    error: new RegExp(`error: handover failed, pid (\\d+) keeps serving: new generation \\(pid \\d+\\) was not ready within readyTimeout \\(${readyTimeout} ms\\).*\\(code=ERR_RELOAD_READY_TIMEOUT\\)`)
  }
]

describe('bad new code: the old generation keeps serving', () => {
  it.each(cases)('new code that $name: old pid serves on with 0 failed requests, the child is gone, a later good reload works', async ({ edit, error, says, reaches }) => {
    const copy = copyOf()
    try {
      const env: Record<string, string> = reaches === undefined ? {} : { RELOAD_READY_TIMEOUT: String(readyTimeout) }
      const { fixture, url, pid } = await startServer(copy.path, { env })
      const load = track(new Load(url, { connections: 8 }).start())
      await load.servedBy(pid, 20)
      copy.write(edit)
      const signalled = Date.now()
      fixture.signal('SIGHUP', pid)
      const bad = Number((await fixture.waitFor(/starting generation 2 \(child=(\d+)/)).match[1])
      if (reaches !== undefined) await fixture.waitFor(new RegExp(`^${reaches} \\(pid ${bad}\\)$`))
      if (reaches === 'spinning') {
        // 0.2 s of CPU after start-up (which is done by then), well inside the readyTimeout left, even on a
        // machine busy with other work.
        const ticks = cpuTicks(bad)
        await until(() => cpuTicks(bad) >= ticks + 20, () => `pid ${bad} spins (CPU ticks ${ticks} -> ${cpuTicks(bad)})`, { timeout: readyTimeout })
      }
      const failed = await fixture.waitFor(error, { timeout: 15_000 })
      expect([Number(failed.match[1]), childPid(failed.match[0])]).toEqual([pid, bad])
      if (says !== undefined) expect(fixture.output).toMatch(says)
      else expect(Date.now() - signalled).toBeGreaterThanOrEqual(readyTimeout)
      await fixture.gone(bad)
      // The old generation still serves after the failure: 20 more answers from it.
      const before = load.outcomes.length
      await load.until((outcomes) => outcomes.slice(before).filter((o) => o.pid === pid).length >= 20, `20 answers from pid ${pid} after the failed handover`)
      expect(fixture.output).not.toMatch(/generation 2 ready/)

      copy.write((source) => source)
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      expect(next).not.toBe(bad)
      await draining(fixture, pid)
      await load.servedBy(next, 20)
      const outcomes = await load.stop()
      expect(load.failures).toEqual([])
      expect(Object.keys(servedBy(outcomes)).map(Number).sort()).toEqual([pid, next].sort())
      expect(await fixture.exit).toEqual({ code: 0, signal: null })
      console.info(`new code that ${failed.match[0].includes('READY_TIMEOUT') ? 'is not ready' : 'exits'}: ${outcomes.length} requests, ` +
        `${load.failures.length} failed, served by ${JSON.stringify(servedBy(outcomes))} (old ${pid}, bad ${bad}, good ${next})`)
    } finally {
      copy.remove()
    }
  })
})
