// Part 4: what a handover costs against starting the same app cold, both timed the same way: from the signal
// (or the spawn) to the first answer served by the new pid, polled by the same loop. Samples interleaved.
import { dirname } from 'node:path'
import { clear, status } from './progress.mjs'
import { freePort, now, Proc, signal, sleep, waitGone } from './procs.mjs'
import { firstAnswer } from './recorder.mjs'
import { round, spread } from './stats.mjs'
import { Ours } from './systems.mjs'

// One GET on a fresh connection, then `pause` ms, until a pid other than the old one answers: refused while
// a cold start is not listening yet, answered by the old pid during a handover until the new one takes over.
const poll = { pause: 2, ms: 20_000 }

async function coldStart (script) {
  const port = await freePort()
  const at = now()
  const proc = new Proc(script, { env: { PORT: String(port), HOST: '127.0.0.1' }, cwd: dirname(script) })
  try {
    const listening = proc.waitFor(/^listening on /, { ms: 20_000 })
    const first = await firstAnswer(`http://127.0.0.1:${port}/`, poll)
    if (first === undefined) throw new Error(`${script} did not answer within 20 s:\n  ${proc.lines.slice(-10).join('\n  ')}`)
    if (first.pid !== proc.pid) throw new Error(`pid ${first.pid} answered a cold start of pid ${proc.pid}`)
    return { answer: first.end - at, listening: (await listening).at - at }
  } finally {
    signal(proc.pid, 'SIGTERM')
    const left = await waitGone([proc.pid], 10_000)
    for (const pid of left) signal(pid, 'SIGKILL')
  }
}

async function handoverOnce (ours, url) {
  const old = ours.pid
  // The poller starts first and its first request goes to the old pid; the clock starts at the signal,
  // which reload() sends synchronously right after.
  const answered = firstAnswer(url, { ...poll, notPid: old })
  const event = await ours.reload()
  const first = await answered
  if (first === undefined) throw new Error(`no answer from a new pid within 20 s of the signal to pid ${old}`)
  if (first.pid !== ours.pid) throw new Error(`pid ${first.pid} answered, but generation ${event.generation} is pid ${ours.pid}`)
  await Promise.race([event.oldExit, sleep(10_000)])
  return { answer: first.end - event.at, ready: event.readyAt - event.at }
}

/**
 * `samples` cold starts and `samples` handovers of `script`, alternating, each timed to the first answer from
 * the new pid. The "ready" line of each handover and the "listening" line of each cold start are kept too.
 */
export async function handover ({ framework, script, samples }) {
  const cold = []
  const listening = []
  const hup = []
  const ready = []
  const port = await freePort()
  const ours = new Ours({ script, port })
  let result
  let left = []
  try {
    await ours.start()
    for (let i = 1; i <= samples; i++) {
      status(`handover · ${framework} · sample ${i}/${samples} · cold start`)
      const c = await coldStart(script)
      cold.push(c.answer)
      listening.push(c.listening)
      await sleep(100)
      status(`handover · ${framework} · sample ${i}/${samples} · handover`)
      const h = await handoverOnce(ours, `http://127.0.0.1:${port}/`)
      hup.push(h.answer)
      ready.push(h.ready)
      await sleep(100)
    }
    const c = spread(cold)
    const h = spread(hup)
    result = {
      framework,
      samples,
      cold: c,
      coldListening: spread(listening),
      handover: h,
      handoverReady: spread(ready),
      coreMs: spread(Object.values(ours.coreMs())),
      ratio: round(h.median / c.median, 2),
      delta: round(h.median - c.median),
      target: h.median <= c.median + 50
    }
  } finally {
    clear()
    left = await ours.stop()
  }
  if (left.length > 0) throw new Error(`pids ${left.join(', ')} were still alive at the end and were killed`)
  return result
}
