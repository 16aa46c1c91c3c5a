// Part 1 and 2: the same keep-alive load through a series of reloads, for ours, a naive restart and PM2.
import { createRequire } from 'node:module'
import { clear, status } from './progress.mjs'
import { freePort, now, sleep } from './procs.mjs'
import { kindOf, Recorder } from './recorder.mjs'
import { analyse, spread } from './stats.mjs'
import { Naive, Ours, Pm2 } from './systems.mjs'

const autocannon = createRequire(import.meta.url)('autocannon')

/** The systems by the name used on the command line. */
export const systems = { ours: Ours, naive: Naive, pm2: Pm2 }

const fmt = (n) => n.toLocaleString('en-US')

/**
 * Runs `system` for `framework` under load through `reloads` reloads, one every `interval` ms, and never
 * sooner than `serve` ms after the last one was ready. Resolves with the figures, and the raw outcomes for
 * the chart. An `extra` load ({ start(url), stop() }) runs beside the recorder, for the cross-check.
 */
export async function runSystem (options) {
  const { framework, system, script, app, reloads, interval, connections, slowShare, slow, timeout = 5000, lead = 1000, tail = 1000, serve = 500, extra, tag = 'availability', create } = options
  const port = await freePort()
  // `create(port)` makes a system other than the named ones (the keeper part's variants).
  const sys = create?.(port) ?? new systems[system]({ script, app, port })
  const label = sys.label ?? sys.constructor.label
  const result = { framework, system, label, reloadsAsked: reloads }
  const events = []
  let recorder
  let extraResult
  try {
    await sys.start()
    const url = `http://127.0.0.1:${port}`
    // A system that reports itself started before it serves (PM2) is waited for, so the load measures reloads.
    await sys.whenServing?.(`${url}/`)
    recorder = new Recorder(url, { connections, slowShare, slow, timeout }).start()
    extra?.start(url)
    let reload = 0
    status('', () => `${tag} · ${framework} · ${label} · reload ${reload}/${reloads} · ${fmt(recorder.count)} requests · ` +
      `${fmt(recorder.failed)} failed · ${fmt(recorder.non2xx)} non-2xx`)
    await sleep(lead)
    for (reload = 1; reload <= reloads; reload++) {
      const began = now()
      const event = await sys.reload()
      events.push(event)
      // A generation that is killed before clients reach it proves nothing: each serves at least `serve` ms.
      await sleep(Math.max(interval - (now() - began), serve - (now() - event.readyAt)))
    }
    reload = reloads
    await sleep(tail)
  } catch (err) {
    result.error = err.message
  } finally {
    clear()
    if (recorder !== undefined) await recorder.stop()
    if (extra !== undefined) extraResult = await extra.stop()
    // With the load gone every old generation has nothing left to drain; 10 s is a generous bound.
    const deadline = sleep(10_000)
    for (const event of events) event.oldExitAt = await Promise.race([event.oldExit, deadline])
    result.leftover = await sys.stop()
  }
  result.reloads = events.length
  if (recorder === undefined) return { result, events }
  Object.assign(result, analyse(recorder.outcomes, events, { startedAt: recorder.startedAt, stoppedAt: recorder.stoppedAt, timeout }))
  if (sys.coreMs !== undefined) {
    const ms = sys.coreMs()
    result.coreMs = spread(events.map((e) => ms[e.generation]))
  }
  if (extraResult !== undefined) result.extra = extraResult
  return { result, outcomes: recorder.outcomes, events, startedAt: recorder.startedAt, stoppedAt: recorder.stoppedAt }
}

/**
 * autocannon beside the recorder, with the same mix of slow and fast requests, counting what it saw.
 * It reconnects at once after an error, so a closed port shows as many more errors than in the recorder.
 */
export function cannon ({ connections, slowShare, slow, timeout = 5000 }) {
  let instance
  const kinds = {}
  const every = Math.max(1, Math.round(1 / slowShare))
  const requests = Array.from({ length: every }, (_, i) => ({ method: 'GET', path: `/?sleep=${i === 0 ? slow : 0}` }))
  return {
    start (url) {
      instance = autocannon({ url, connections, duration: 3600, timeout: timeout / 1000, requests })
      instance.on('reqError', (err) => { const kind = kindOf(err); kinds[kind] = (kinds[kind] ?? 0) + 1 })
    },
    async stop () {
      if (instance === undefined) return undefined
      instance.stop()
      const r = await instance
      const answered = r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx']
      return {
        tool: 'autocannon',
        connections,
        requests: answered + r.errors,
        answered,
        rps: Math.round(answered / Math.max(r.duration, 0.001)),
        errors: r.errors,
        errorsByKind: kinds,
        timeouts: r.timeouts,
        resets: r.resets,
        non2xx: r.non2xx,
        seconds: r.duration
      }
    }
  }
}
