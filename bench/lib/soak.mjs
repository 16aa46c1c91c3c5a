// Part 5: many reloads in a row under light load. Nothing may fail, and nothing may pile up: the newest
// generation's fds and memory stay flat, and every old generation is gone.
import { clear, status } from './progress.mjs'
import { fdCount, freePort, isAlive, rssMb, sleep } from './procs.mjs'
import { Recorder } from './recorder.mjs'
import { analyse, quantile, round } from './stats.mjs'
import { Ours } from './systems.mjs'

const fmt = (n) => n.toLocaleString('en-US')

/**
 * `reloads` handovers of `script`, each as soon as the last generation is ready and `settle` ms old.
 * Each new generation's open fds and RSS are read at that same age, so first and last compare fairly.
 */
export async function soak ({ framework, script, reloads, settle, connections, slowShare, slow }) {
  const port = await freePort()
  const ours = new Ours({ script, port })
  const samples = []
  const events = []
  let recorder
  let left = []
  let oldAlive = []
  const sample = (generation, pid) => samples.push({ generation, pid, fds: fdCount(pid), rssMb: round(rssMb(pid)) })
  try {
    await ours.start()
    recorder = new Recorder(`http://127.0.0.1:${port}`, { connections, slowShare, slow }).start()
    await sleep(settle)
    sample(1, ours.pid)
    let n = 0
    status('', () => `soak · ${framework} · reload ${n}/${reloads} · ${fmt(recorder.count)} requests · ${fmt(recorder.failed)} failed · ` +
      `${fmt(recorder.non2xx)} non-2xx · fds ${samples.at(-1)?.fds} · RSS ${samples.at(-1)?.rssMb} MB`)
    for (n = 1; n <= reloads; n++) {
      const event = await ours.reload()
      events.push(event)
      await sleep(settle)
      sample(event.generation, ours.pid)
    }
    n = reloads
  } finally {
    clear()
    if (recorder !== undefined) await recorder.stop()
    const deadline = sleep(10_000)
    for (const event of events) event.oldExitAt = await Promise.race([event.oldExit, deadline])
    // Every generation but the newest should have exited by now, with the load gone.
    oldAlive = ours.pids.slice(0, -1).filter(isAlive)
    left = await ours.stop()
  }
  const figures = analyse(recorder.outcomes, events, { startedAt: recorder.startedAt, stoppedAt: recorder.stoppedAt })
  // Reload 1 is generation 2: generation 1 started by hand, without inherited fds.
  const after = samples.slice(1)
  const head = after.slice(0, 10)
  const tail = after.slice(-10)
  const median = (list, key) => quantile(list.map((s) => s[key]).filter((v) => v !== undefined), 0.5)
  const rss = { first: after[0]?.rssMb, last: after.at(-1)?.rssMb, firstTen: round(median(head, 'rssMb')), lastTen: round(median(tail, 'rssMb')) }
  const fds = { first: after[0]?.fds, last: after.at(-1)?.fds, min: Math.min(...after.map((s) => s.fds)), max: Math.max(...after.map((s) => s.fds)) }
  return {
    framework,
    reloads: events.length,
    requests: figures.requests,
    failed: figures.failed,
    failedByKind: figures.failedByKind,
    non2xx: figures.non2xx,
    latency: figures.latency,
    generations: figures.generations,
    toNewPid: figures.toNewPid,
    oldExit: figures.oldExit,
    generation1: samples[0],
    fds,
    rss,
    oldAlive,
    leftover: left,
    samples,
    targets: {
      failed: figures.failed === 0 && figures.non2xx === 0,
      // Within noise: fds equal give or take 2 (a socket opening or closing at that instant), and the median
      // RSS of the last ten generations within 10% of the first ten's.
      fds: fds.last - fds.first <= 2 && fds.max - fds.min <= 4,
      rss: rss.lastTen <= rss.firstTen * 1.1,
      leftovers: oldAlive.length === 0 && left.length === 0
    }
  }
}
