// Part 3: what the adapter costs a hello-world: throughput and p99 with and without it, runs interleaved.
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { clear, status } from './progress.mjs'
import { freePort, Proc, signal, started, waitGone } from './procs.mjs'
import { quantile, round, spread } from './stats.mjs'

const autocannon = createRequire(import.meta.url)('autocannon')

// autocannon keeps latencies in whole milliseconds; a hello-world's p99 is a few of them, so collect
// each response's own (fractional) time instead.
async function load (url, seconds, connections) {
  const latencies = []
  const instance = autocannon({ url, connections, duration: seconds })
  instance.on('response', (client, statusCode, bytes, ms) => latencies.push(ms))
  const r = await instance
  return {
    rps: round(latencies.length / r.duration, 0),
    p50: round(quantile(latencies, 0.5), 2),
    p99: round(quantile(latencies, 0.99), 2),
    errors: r.errors,
    non2xx: r.non2xx
  }
}

async function serve (script, port) {
  const proc = new Proc(script, { env: { PORT: String(port), HOST: '127.0.0.1' }, cwd: dirname(script) })
  proc.label = script
  await started(proc, /^listening on /)
  return proc
}

/**
 * Throughput and p99 of `script` (with the adapter) against `app` (without, same handler), `pairs` pairs
 * of runs of `seconds` each, interleaved, both servers up the whole time so neither gets a warmer machine.
 */
export async function overhead ({ framework, script, app, pairs, seconds, warmup, connections }) {
  const servers = []
  try {
    const [withPort, withoutPort] = [await freePort(), await freePort()]
    servers.push(await serve(script, withPort), await serve(app, withoutPort))
    const urls = { with: `http://127.0.0.1:${withPort}/`, without: `http://127.0.0.1:${withoutPort}/` }
    status(`overhead · ${framework} · warm-up`)
    await load(urls.with, warmup, connections)
    await load(urls.without, warmup, connections)
    const runs = []
    for (let i = 1; i <= pairs; i++) {
      const run = {}
      // Every other pair starts with the other side (A B B A A B …), so a drift in the machine's load
      // does not always land on the same side.
      for (const side of i % 2 === 1 ? ['with', 'without'] : ['without', 'with']) {
        status(`overhead · ${framework} · run ${i}/${pairs} · ${side} the adapter`)
        run[side] = await load(urls[side], seconds, connections)
      }
      runs.push(run)
    }
    const rps = runs.map((r) => r.with.rps / r.without.rps)
    const p99 = runs.map((r) => r.with.p99 / r.without.p99)
    const rpsRatio = spread(rps, 3)
    const p99Ratio = spread(p99, 3)
    return {
      framework,
      runs,
      with: { rps: spread(runs.map((r) => r.with.rps)), p99: spread(runs.map((r) => r.with.p99)) },
      without: { rps: spread(runs.map((r) => r.without.rps)), p99: spread(runs.map((r) => r.without.p99)) },
      rpsRatio,
      p99Ratio,
      errors: runs.reduce((n, r) => n + r.with.errors + r.without.errors + r.with.non2xx + r.without.non2xx, 0),
      targets: { throughput: rpsRatio.median >= 0.97, p99: p99Ratio.median <= 1.05 }
    }
  } finally {
    clear()
    for (const proc of servers) signal(proc.pid, 'SIGTERM')
    const left = await waitGone(servers.map((p) => p.pid), 10_000)
    for (const pid of left) signal(pid, 'SIGKILL')
  }
}
