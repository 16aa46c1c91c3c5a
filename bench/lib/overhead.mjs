// Part 3: what the adapter costs a hello-world: throughput and p99 with and without it, in interleaved pairs,
// as many as it takes to pin the throughput ratio down to a 95% interval of ±1.5%.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import { clear, status } from './progress.mjs'
import { freePort, now, Proc, signal, started, waitGone } from './procs.mjs'
import { quantile, ratioInterval, round, spread, verdict } from './stats.mjs'

const autocannon = createRequire(import.meta.url)('autocannon')

// autocannon keeps latencies in whole milliseconds; a hello-world's p99 is a few of them, so collect
// each response's own (fractional) time instead. With `byPid`, each answer's `ospid:<pid>` is counted too
// (the keeper part: how evenly workers share the load).
export async function load (url, seconds, connections, { byPid = false } = {}) {
  const latencies = []
  const pids = {}
  const count = (status, body) => {
    const pid = typeof body === 'string' && body.startsWith('ospid:') ? body.slice(6) : '?'
    pids[pid] = (pids[pid] ?? 0) + 1
  }
  const { pathname, search } = new URL(url)
  const requests = byPid ? [{ method: 'GET', path: `${pathname}${search}`, onResponse: count }] : undefined
  const instance = autocannon({ url, connections, duration: seconds, ...(requests !== undefined && { requests }) })
  instance.on('response', (client, statusCode, bytes, ms) => latencies.push(ms))
  const r = await instance
  return {
    rps: round(latencies.length / r.duration, 0),
    p50: round(quantile(latencies, 0.5), 2),
    p99: round(quantile(latencies, 0.99), 2),
    errors: r.errors,
    non2xx: r.non2xx,
    ...(byPid && { pids })
  }
}

// On a small machine the server and the load generator fight over the same cores, and that noise swamps
// a 3% effect: with taskset, the servers run on core 0 and the load (this process, autocannon) on the rest.
export const cores = availableParallelism()
/** Pins every thread of `pid` to `cpus` (a taskset list: `0`, `1-3`); false when it could not. */
export function pin (pid, cpus) {
  return cores >= 2 && spawnSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' }).status === 0
}

async function serve (script, port, pinned) {
  const proc = new Proc(script, { env: { PORT: String(port), HOST: '127.0.0.1' }, cwd: dirname(script) })
  proc.label = script
  await started(proc, /^listening on /)
  if (pinned) pin(proc.pid, '0')
  return proc
}

const pct = (x) => `±${round(x * 100, 1)}%`

/**
 * Throughput and p99 of `script` (with the adapter) against `app` (without, same handler), in pairs of runs
 * of `seconds` each, interleaved, both servers up the whole time so neither gets a warmer machine. Pairs are
 * added until the 95% interval of the throughput ratio is within ±`precision` (after at least `minPairs`),
 * or `maxPairs` pairs, or the clock reaches `until` (bench clock, ms). The targets are judged on the
 * intervals: a noisy machine gives "unresolved", not a verdict.
 */
export async function overhead ({ framework, script, app, minPairs, maxPairs, until, precision, seconds, warmup, connections }) {
  const servers = []
  const pinned = pin(process.pid, `1-${cores - 1}`)
  try {
    const [withPort, withoutPort] = [await freePort(), await freePort()]
    servers.push(await serve(script, withPort, pinned), await serve(app, withoutPort, pinned))
    const urls = { with: `http://127.0.0.1:${withPort}/`, without: `http://127.0.0.1:${withoutPort}/` }
    status(`overhead · ${framework} · warm-up`)
    await load(urls.with, warmup, connections)
    await load(urls.without, warmup, connections)
    const runs = []
    let rpsRatio = { n: 0 }
    let stoppedBy
    for (let i = 1; ; i++) {
      const run = {}
      // Every other pair starts with the other side (A B B A A B …), so a drift in the machine's load
      // does not always land on the same side.
      for (const side of i % 2 === 1 ? ['with', 'without'] : ['without', 'with']) {
        status(`overhead · ${framework} · pair ${i} · ${side} the adapter · ratio ${rpsRatio.ratio ?? '–'} ` +
          `${rpsRatio.halfWidth === undefined ? '' : pct(rpsRatio.halfWidth)} (aiming at ${pct(precision)})`)
        run[side] = await load(urls[side], seconds, connections)
      }
      runs.push(run)
      rpsRatio = ratioInterval(runs.map((r) => r.with.rps / r.without.rps))
      if (i >= minPairs && rpsRatio.halfWidth <= precision) { stoppedBy = 'interval'; break }
      if (i >= maxPairs) { stoppedBy = 'pairs'; break }
      // Two pairs are the fewest that give an interval at all.
      if (i >= 2 && now() >= until) { stoppedBy = 'time'; break }
    }
    const p99Ratio = ratioInterval(runs.map((r) => r.with.p99 / r.without.p99))
    return {
      framework,
      pinned,
      pairs: runs.length,
      stoppedBy,
      runs,
      with: { rps: spread(runs.map((r) => r.with.rps)), p99: spread(runs.map((r) => r.with.p99), 2) },
      without: { rps: spread(runs.map((r) => r.without.rps)), p99: spread(runs.map((r) => r.without.p99), 2) },
      rpsRatio: { ...rpsRatio, ...pick(spread(runs.map((r) => r.with.rps / r.without.rps), 3)) },
      p99Ratio: { ...p99Ratio, ...pick(spread(runs.map((r) => r.with.p99 / r.without.p99), 3)) },
      errors: runs.reduce((n, r) => n + r.with.errors + r.without.errors + r.with.non2xx + r.without.non2xx, 0),
      targets: { throughput: verdict(rpsRatio, { atLeast: 0.97 }), p99: verdict(p99Ratio, { atMost: 1.05 }) }
    }
  } finally {
    clear()
    if (pinned) pin(process.pid, `0-${cores - 1}`)
    for (const proc of servers) signal(proc.pid, 'SIGTERM')
    const left = await waitGone(servers.map((p) => p.pid), 10_000)
    for (const pid of left) signal(pid, 'SIGKILL')
  }
}

// The per-pair median and range, kept beside the interval to show the spread.
const pick = ({ median, min, max }) => ({ median, min, max })
