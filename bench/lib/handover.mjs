// Part 4: what a handover costs against starting the same app cold: signal to the new generation's ready,
// against `node app.js` to its first answer. Samples interleaved.
import { dirname } from 'node:path'
import { clear, status } from './progress.mjs'
import { freePort, now, Proc, signal, sleep, waitGone } from './procs.mjs'
import { firstAnswer } from './recorder.mjs'
import { round, spread } from './stats.mjs'
import { Ours } from './systems.mjs'

async function coldStart (script) {
  const port = await freePort()
  const at = now()
  const proc = new Proc(script, { env: { PORT: String(port), HOST: '127.0.0.1' }, cwd: dirname(script) })
  try {
    const listening = proc.waitFor(/^listening on /, { ms: 20_000 })
    const first = await firstAnswer(`http://127.0.0.1:${port}/`, { ms: 20_000 })
    if (first === undefined) throw new Error(`${script} did not answer within 20 s:\n  ${proc.lines.slice(-10).join('\n  ')}`)
    return { answer: first.end - at, listening: (await listening).at - at }
  } finally {
    signal(proc.pid, 'SIGTERM')
    const left = await waitGone([proc.pid], 10_000)
    for (const pid of left) signal(pid, 'SIGKILL')
  }
}

/**
 * `samples` cold starts and `samples` handovers of `script`, alternating. A cold start is timed from spawn
 * to its first answer, polled on fresh connections (refused until it listens, which costs next to
 * nothing). A handover is timed from the signal to the new generation's "ready" line, with no poller:
 * polling the old generation would load the machine while the new one starts, and tilt the comparison.
 */
export async function handover ({ framework, script, samples }) {
  const cold = []
  const listening = []
  const hup = []
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
      const event = await ours.reload()
      hup.push(event.readyAt - event.at)
      await Promise.race([event.oldExit, sleep(10_000)])
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
