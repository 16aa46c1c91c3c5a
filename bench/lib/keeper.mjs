// Part 6, the keeper: `reload run` (a keeper process that holds the listening socket, N workers of the plain
// app, no reload code in it) side by side with PM2 and Node's own cluster module:
//   crash       a worker SIGKILLed every few seconds under keep-alive load: refused and other failed requests,
//               kill → first answer from the replacement pid against a cold start of the same app;
//   roll        rolling reloads of 2 workers under the same load, with and without the app-side drain set-up;
//   throughput  hello-world req/s of 2 workers (ours, PM2 cluster, Node cluster) and of 1 worker against the
//               app alone, and how evenly 2 workers share the requests.
import { dirname } from 'node:path'
import { runSystem } from './availability.mjs'
import { cores, load, pin } from './overhead.mjs'
import { clear, status } from './progress.mjs'
import { descendants, freePort, now, Proc, signal, sleep, started, waitGone } from './procs.mjs'
import { firstNewAnswer, Recorder } from './recorder.mjs'
import { analyse, ratioInterval, round, spread, verdict } from './stats.mjs'
import { Keeper, killPm2, Pm2, pm2Daemon, whenServing } from './systems.mjs'

const fmt = (n) => n.toLocaleString('en-US')

// ---------------------------------------------------------------------------------------------------------
// (a) crash: SIGKILL a worker every `every` ms under keep-alive load.

const crashSystems = [
  { system: 'ours', label: 'reload run --workers 1 (ours)', create: (app, port) => new Keeper({ app, port, workers: 1 }) },
  // The keeper hands connections out: a dead worker's share must go to the other, and none be refused.
  { system: 'ours-2', label: 'reload run --workers 2 (ours), worker 1 killed', create: (app, port) => new Keeper({ app, port, workers: 2 }) },
  { system: 'pm2-fork', label: 'PM2 fork mode, autorestart', create: (app, port) => new Pm2({ app, port, mode: 'fork' }) },
  { system: 'pm2-cluster', label: 'PM2 cluster -i 1, autorestart', create: (app, port) => new Pm2({ app, port, instances: 1 }) }
]

/**
 * For ours and each PM2 mode in turn: `kills` SIGKILLs of the one worker, one every `every` ms, under the
 * recorder's keep-alive load. After each kill, a loop of GETs on fresh connections (firstNewAnswer) times the
 * first answer from a new pid; then, while the load goes on, a cold start of the same app on another port is
 * timed the same way (spawn → first answer), so both are measured under the same load.
 */
export async function crash ({ app, kills, every, connections, slowShare, slow, timeout = 5000, lead = 1000, tail = 1000, only }) {
  const rows = []
  try {
    for (const s of crashSystems.filter((s) => only === undefined || only.includes(s.system))) {
      rows.push(await crashOne({ ...s, app, kills, every, connections, slowShare, slow, timeout, lead, tail }))
    }
  } finally {
    await killPm2()
  }
  return { rows }
}

async function crashOne ({ system, label, create, app, kills, every, connections, slowShare, slow, timeout, lead, tail }) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/`
  const sys = create(app, port)
  const row = { system, label, killsAsked: kills }
  const events = []
  const samples = []
  const hung = []
  let recorder
  try {
    await sys.start()
    const missing = await whenServing(url, sys.current)
    if (missing.length > 0) throw new Error(`pids ${missing.join(', ')} did not answer within 10 s of the start`)
    recorder = new Recorder(url, { connections, slowShare, slow, timeout }).start()
    let k = 0
    status('', () => `keeper · crash · ${label} · kill ${k}/${kills} · ${fmt(recorder.count)} requests · ${fmt(recorder.failed)} failed`)
    await sleep(lead)
    for (k = 1; k <= kills; k++) {
      const began = now()
      const serving = [...sys.current]
      const kill = sys.kill()
      const first = await firstNewAnswer(url, { notPid: serving })
      if (first === undefined) throw new Error(`no answer from a new pid within 20 s of the SIGKILL to pid ${kill.pid}`)
      const ready = await kill.ready
      if (first.pid !== ready.pid) throw new Error(`pid ${first.pid} answered after the SIGKILL to pid ${kill.pid}, but the replacement is pid ${ready.pid}`)
      events.push({ at: kill.at, readyAt: ready.at, oldPids: [kill.pid], newPids: [ready.pid], oldExit: kill.exit })
      const sample = { pid: kill.pid, newPid: ready.pid, answer: round(first.end - kill.at), ready: round(ready.at - kill.at), backoff: ready.wait, tries: first.tries, failed: first.failed }
      hung.push(first.hung.then((n) => { sample.hung = n }))
      // The same app started by hand on another port, while this system is under the same load.
      sample.cold = round(await coldStart(app))
      samples.push(sample)
      await sleep(Math.max(0, every - (now() - began)))
    }
    k = kills
    await sleep(tail)
  } catch (err) {
    row.error = err.message
  } finally {
    clear()
    if (recorder !== undefined) await recorder.stop()
    const deadline = sleep(5000)
    for (const event of events) event.oldExitAt = await Promise.race([event.oldExit, deadline])
    row.leftover = await sys.stop()
    await Promise.all(hung)
  }
  row.kills = samples.length
  row.samples = samples
  if (recorder === undefined) return row
  const a = analyse(recorder.outcomes, events, { startedAt: recorder.startedAt, stoppedAt: recorder.stoppedAt, timeout })
  const refused = a.failedByKind.ECONNREFUSED ?? 0
  const answer = spread(samples.map((s) => s.answer))
  const cold = spread(samples.map((s) => s.cold))
  const backoffs = samples.map((s) => s.backoff).filter((v) => v !== undefined)
  const net = spread(samples.filter((s) => s.backoff !== undefined).map((s) => s.answer - s.backoff))
  Object.assign(row, {
    requests: a.requests,
    failed: a.failed,
    refused,
    other: a.failed - refused,
    failedByKind: a.failedByKind,
    non2xx: a.non2xx,
    latency: a.latency,
    longestGap: a.longestGap,
    generations: a.generations,
    answer,
    // The recorder's own first answer from the new pid, from any of its connections.
    recorderAnswer: a.toNewPid,
    ready: spread(samples.map((s) => s.ready)),
    backoffs: backoffs.length > 0 ? backoffs : undefined,
    answerNet: backoffs.length > 0 ? net : undefined,
    cold,
    // GETs of the timing loop that got no answer at all within 5 s (a connection lost at the kill).
    hung: samples.reduce((n, s) => n + (s.hung ?? 0), 0),
    ratio: answer.n > 0 && cold.n > 0 ? round(answer.median / cold.median, 2) : undefined,
    ratioNet: backoffs.length > 0 && net.n > 0 && cold.n > 0 ? round(net.median / cold.median, 2) : undefined
  })
  return row
}

/**
 * Spawns `node app` on a free port and times it from the spawn to its first answer, with the same loop that
 * times a replacement after a kill (refused until it listens).
 */
async function coldStart (app) {
  const port = await freePort()
  const at = now()
  const proc = new Proc(app, { env: { PORT: String(port), HOST: '127.0.0.1' }, cwd: dirname(app) })
  try {
    const first = await firstNewAnswer(`http://127.0.0.1:${port}/`)
    if (first === undefined) throw new Error(`${app} did not answer within 20 s of its spawn:\n  ${proc.lines.slice(-10).join('\n  ')}`)
    if (first.pid !== proc.pid) throw new Error(`pid ${first.pid} answered a cold start of pid ${proc.pid}`)
    return first.end - at
  } finally {
    signal(proc.pid, 'SIGTERM')
    const left = await waitGone([proc.pid], 10_000)
    for (const pid of left) signal(pid, 'SIGKILL')
  }
}

// ---------------------------------------------------------------------------------------------------------
// (b) roll: rolling reloads of `workers` workers under keep-alive load.

/**
 * `reloads` rolling reloads under the recorder's load, for ours (`reload run --workers N`, `reload reload
 * --wait` or SIGHUP) and PM2 (`-i N`, `pm2 reload`), each with the app-side drain set-up the availability
 * part gives PM2 (wait_ready + `process.send('ready')`, a SIGINT handler that closes the server) and with
 * the plain app (neither). Each reload follows the last one as soon as it is done and the new workers have
 * served `serve` ms.
 */
export async function roll ({ app, reloads, workers, via, serve, connections, slowShare, slow, only }) {
  const variants = [
    { system: 'ours', setup: true, label: `reload run --workers ${workers} (ours)`, create: (port) => new Keeper({ app, port, workers, via }) },
    { system: 'pm2', setup: true, label: `PM2 cluster -i ${workers}, pm2 reload`, create: (port) => new Pm2({ app, port, instances: workers }) },
    { system: 'ours', setup: false, label: `reload run --workers ${workers} (ours)`, create: (port) => new Keeper({ app, port, workers, via, plain: true }) },
    { system: 'pm2', setup: false, label: `PM2 cluster -i ${workers}, pm2 reload`, create: (port) => new Pm2({ app, port, instances: workers, plain: true }) }
  ].filter((v) => only === undefined || only.includes(v.system))
  const rows = []
  try {
    for (const v of variants) {
      const run = await runSystem({
        framework: 'http',
        system: v.system,
        create: (port) => Object.assign(v.create(port), { label: `${v.label}, ${v.setup ? 'drain set-up' : 'plain app'}` }),
        reloads,
        interval: 0,
        serve,
        connections,
        slowShare,
        slow,
        tag: 'keeper · roll'
      })
      const r = run.result
      r.setup = v.setup
      r.workers = workers
      r.pidsExpected = (r.reloads + 1) * workers
      if (v.system === 'ours') {
        r.via = via
        r.keeperMs = spread(run.events.map((e) => e.keeperMs))
        if (via === 'cli') r.cliMs = spread(run.events.map((e) => e.cliMs))
      }
      rows.push(r)
      if (v.system === 'pm2') await killPm2()
    }
  } finally {
    await killPm2()
  }
  return { rows }
}

// ---------------------------------------------------------------------------------------------------------
// (c) throughput: hello-world req/s, interleaved, servers and load on separate cores.

/** A server of the throughput sub-part: started, its processes (to pin), its workers, stopped. */
function keeperServer (app, workers) {
  return async (port) => {
    const k = new Keeper({ app, port, workers })
    await k.start()
    return { pids: () => [k.pid, ...descendants(k.pid)], workers: k.current, stop: () => k.stop() }
  }
}

function pm2Server (app, workers) {
  return async (port) => {
    const p = new Pm2({ app, port, instances: workers })
    await p.start()
    await p.whenServing(`http://127.0.0.1:${port}/`)
    // PM2's daemon is the cluster primary: it accepts each connection and hands it to a worker.
    const daemon = pm2Daemon()
    return { pids: () => (daemon > 0 ? [daemon, ...descendants(daemon)] : p.current), workers: p.current, stop: () => p.stop() }
  }
}

function nodeServer (script, ready, env = {}) {
  return async (port) => {
    const proc = new Proc(script, { env: { PORT: String(port), HOST: '127.0.0.1', ...env }, cwd: dirname(script) })
    proc.label = script
    const { match } = await started(proc, ready)
    const workers = match[1] ? match[1].split(',').map(Number) : [proc.pid]
    return {
      pids: () => [proc.pid, ...descendants(proc.pid)],
      workers,
      stop: async () => {
        const all = [proc.pid, ...descendants(proc.pid)]
        signal(proc.pid, 'SIGTERM')
        const left = await waitGone(all, 10_000)
        for (const pid of left) signal(pid, 'SIGKILL')
        await waitGone(left, 2000)
        return left
      }
    }
  }
}

/**
 * autocannon (`connections`, keep-alive) against five hello-world servers, all up throughout: ours with 2
 * workers, PM2 cluster -i 2, Node's cluster module with 2 workers, ours with 1 worker, and the plain app alone.
 * After a warm-up of each, rounds of `seconds` s runs, one per server, the order turning each round (the
 * two 1-worker servers always side by side, their order alternating), until `budget` s have passed (at least
 * 2 rounds). The servers run on their own cores and the load on the others (taskset), as in the overhead
 * part. Every answer's pid is counted, to show how the workers share the requests.
 */
export async function throughput ({ app, clusterApp, workers, seconds, warmup, budget, connections }) {
  const servers = [
    { key: 'ours2', label: `reload run --workers ${workers} (ours)`, workers, start: keeperServer(app, workers) },
    { key: 'pm2', label: `PM2 cluster -i ${workers}`, workers, start: pm2Server(app, workers) },
    { key: 'cluster', label: `Node cluster module, ${workers} workers`, workers, start: nodeServer(clusterApp, /^cluster listening on .* workers ([\d,]+)\)/, { WORKERS: String(workers) }) },
    { key: 'ours1', label: 'reload run --workers 1 (ours)', workers: 1, start: keeperServer(app, 1) },
    { key: 'plain', label: 'the app alone (node app.mjs)', workers: 1, start: nodeServer(app, /^listening on ()/) }
  ]
  // The servers get as many cores as they have workers, leaving the load at least one; on 2 cores, core 0.
  const serverCores = Math.max(1, Math.min(workers, cores - 1))
  const serverCpus = serverCores === 1 ? '0' : `0-${serverCores - 1}`
  const loadCpus = serverCores === cores - 1 ? `${cores - 1}` : `${serverCores}-${cores - 1}`
  const running = new Map()
  const urls = {}
  let benchPinned = false
  let pinned = false
  try {
    for (const s of servers) {
      status(`keeper · throughput · starting ${s.label}`)
      const port = await freePort()
      running.set(s.key, await s.start(port))
      urls[s.key] = `http://127.0.0.1:${port}/`
    }
    if (cores >= 2) {
      benchPinned = pin(process.pid, loadCpus)
      pinned = benchPinned
      for (const server of running.values()) for (const pid of server.pids()) pinned = pin(pid, serverCpus) && pinned
    }
    for (const s of servers) {
      status(`keeper · throughput · warm-up · ${s.label}`)
      await load(urls[s.key], warmup, connections, { byPid: true })
    }
    const rounds = []
    const end = now() + budget * 1000
    const many = servers.filter((s) => s.workers > 1).map((s) => s.key)
    for (let i = 1; ; i++) {
      // Each round the 2-worker servers start one further along, and the two 1-worker ones swap.
      const turn = many.map((_, j) => many[(i - 1 + j) % many.length])
      const pair = i % 2 === 1 ? ['ours1', 'plain'] : ['plain', 'ours1']
      const order = i % 2 === 1 ? [...turn, ...pair] : [...pair, ...turn]
      const runs = {}
      for (const key of order) {
        status(`keeper · throughput · round ${i} · ${servers.find((s) => s.key === key).label} · ${Math.max(0, Math.round((end - now()) / 1000))} s left`)
        runs[key] = await load(urls[key], seconds, connections, { byPid: true })
      }
      rounds.push(runs)
      if (i >= 2 && now() >= end) break
    }
    return summarise(servers, rounds, { running, pinned, serverCpus, loadCpus, connections, seconds, warmup, budget })
  } finally {
    clear()
    if (benchPinned) pin(process.pid, `0-${cores - 1}`)
    for (const server of running.values()) await server.stop()
    await killPm2()
  }
}

function summarise (servers, rounds, { running, pinned, serverCpus, loadCpus, connections, seconds, warmup, budget }) {
  const rows = servers.map((s) => {
    const runs = rounds.map((r) => r[s.key])
    const byPid = {}
    for (const run of runs) for (const [pid, n] of Object.entries(run.pids)) byPid[pid] = (byPid[pid] ?? 0) + n
    const total = Object.values(byPid).reduce((a, b) => a + b, 0)
    // Each run opens its connections anew, so how they fall on the workers is drawn again each time.
    const topShare = runs.map((run) => {
      const counts = Object.values(run.pids)
      const sum = counts.reduce((a, b) => a + b, 0)
      return sum > 0 ? Math.max(...counts) / sum * 100 : undefined
    })
    return {
      key: s.key,
      label: s.label,
      workers: s.workers,
      pids: running.get(s.key)?.workers,
      rps: spread(runs.map((r) => r.rps)),
      p99: spread(runs.map((r) => r.p99), 2),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
      shares: Object.entries(byPid).sort((a, b) => b[1] - a[1]).map(([pid, n]) => ({ pid, share: round(n / total * 100, 1) })),
      topShare: spread(topShare, 1)
    }
  })
  const ratio = (a, b, key = 'rps') => {
    const interval = ratioInterval(rounds.map((r) => r[a][key] / r[b][key]))
    return { of: `${a}/${b}`, ...interval, ...pick(spread(rounds.map((r) => r[a][key] / r[b][key]), 3)) }
  }
  const single = ratio('ours1', 'plain')
  return {
    rounds: rounds.length,
    pinned,
    serverCpus,
    loadCpus,
    config: { connections, seconds, warmup, budget },
    rows,
    ratios: {
      ours2ToPm2: ratio('ours2', 'pm2'),
      ours2ToCluster: ratio('ours2', 'cluster'),
      ours1ToPlain: single,
      ours1ToPlainP99: ratio('ours1', 'plain', 'p99')
    },
    target: verdict(single, { atLeast: 0.97 }),
    runs: rounds
  }
}

const pick = ({ median, min, max }) => ({ median, min, max })
