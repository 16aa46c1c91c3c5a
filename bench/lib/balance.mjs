// The balance part: how `reload run --workers 2` shares clients that keep their connections, side by side
// with PM2 cluster -i 2 and Node's cluster module (both accept in their primary and hand connections out in
// turn), for keep-alive HTTP/1.1, HTTP/2 sessions and WebSockets; then hello-world throughput of the three
// (the keeper part's throughput sub-part, run here).
import http2 from 'node:http2'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { load } from './overhead.mjs'
import { clear, status } from './progress.mjs'
import { descendants, freePort, now, Proc, signal, sleep, started, waitGone } from './procs.mjs'
import { round, spread } from './stats.mjs'
import { Keeper, killPm2, Pm2, pm2Daemon } from './systems.mjs'

const WebSocket = createRequire(import.meta.url)('ws')

/** Each worker's share must be within these bounds in every run (percent). */
export const SHARE_BOUNDS = [40, 60]

function keeper (app, workers) {
  return async (port) => {
    const k = new Keeper({ app, port, workers, plain: true })
    await k.start()
    return { workers: k.current, stop: () => k.stop() }
  }
}

function pm2 (app, workers) {
  return async (port) => {
    const p = new Pm2({ app, port, instances: workers, plain: true })
    await p.start()
    await p.whenServing(`http://127.0.0.1:${port}/`)
    return { workers: p.current, daemon: pm2Daemon(), stop: () => p.stop() }
  }
}

function cluster (clusterApp, app, workers) {
  return async (port) => {
    const proc = new Proc(clusterApp, { env: { PORT: String(port), HOST: '127.0.0.1', WORKERS: String(workers), CLUSTER_APP: app }, cwd: dirname(clusterApp) })
    proc.label = `cluster ${app}`
    const { match } = await started(proc, /^cluster listening on .* workers ([\d,]+)\)/)
    return {
      workers: match[1].split(',').map(Number),
      stop: async () => {
        const all = [proc.pid, ...descendants(proc.pid)]
        signal(proc.pid, 'SIGTERM')
        const left = await waitGone(all, 10_000)
        for (const pid of left) signal(pid, 'SIGKILL')
        return left
      }
    }
  }
}

// Shares of `counts` (pid → n) among `workers`, in worker order; a worker that got nothing counts 0.
function shares (counts, workers) {
  const total = workers.reduce((n, pid) => n + (counts[pid] ?? 0), 0)
  return workers.map((pid) => total === 0 ? 0 : round((counts[pid] ?? 0) / total * 100, 1))
}

const within = (s) => s.every((x) => x >= SHARE_BOUNDS[0] && x <= SHARE_BOUNDS[1])

/** `sessions` HTTP/2 sessions opened at once, each with streams one after another for `seconds`: streams per pid, and which pid each session reached. */
async function h2Run (url, sessions, seconds) {
  const streams = {}
  const bySession = {}
  let errors = 0
  const end = now() + seconds * 1000
  await Promise.all(Array.from({ length: sessions }, async (_, i) => {
    const session = http2.connect(url)
    session.on('error', () => { errors++ })
    try {
      while (now() < end && !session.destroyed) {
        const body = await new Promise((resolve) => {
          const req = session.request({ ':path': '/' })
          let text = ''
          req.setEncoding('utf8')
          req.on('data', (c) => { text += c })
          req.on('end', () => resolve(text))
          req.on('error', () => { errors++; resolve('') })
          req.end()
        })
        const pid = body.startsWith('ospid:') ? body.slice(6) : '?'
        streams[pid] = (streams[pid] ?? 0) + 1
        bySession[i] = pid
      }
    } finally {
      session.close()
    }
  }))
  const sessionsPerPid = {}
  for (const pid of Object.values(bySession)) sessionsPerPid[pid] = (sessionsPerPid[pid] ?? 0) + 1
  return { streams, sessions: sessionsPerPid, errors }
}

/** `clients` WebSocket clients connected at once, each sending a message after each answer for `seconds`: clients and messages per pid. */
async function wsRun (url, clients, seconds) {
  const messages = {}
  const byClient = {}
  let errors = 0
  const end = now() + seconds * 1000
  await Promise.all(Array.from({ length: clients }, (_, i) => new Promise((resolve) => {
    const socket = new WebSocket(url)
    socket.on('message', (data) => {
      const text = String(data)
      const pid = text.startsWith('ospid:') ? text.slice(6) : '?'
      if (byClient[i] === undefined) byClient[i] = pid
      else messages[pid] = (messages[pid] ?? 0) + 1
      if (now() < end) socket.send('ping')
      else socket.close()
    })
    socket.on('error', () => { errors++ })
    socket.on('close', () => resolve())
  })))
  const clientsPerPid = {}
  for (const pid of Object.values(byClient)) clientsPerPid[pid] = (clientsPerPid[pid] ?? 0) + 1
  return { messages, clients: clientsPerPid, errors }
}

/**
 * For each system in turn (ours, PM2, Node's cluster module; 2 workers each): `runs` runs of each load,
 * each opening its connections at once: keep-alive HTTP/1.1 with each count of `connections` (autocannon,
 * `seconds` s, answers counted per pid), HTTP/2 with `sessions` sessions, WebSockets with `clients`
 * clients. A worker's share is its part of the answers (HTTP/2 streams, WebSocket messages); the
 * connections it got are recorded too.
 */
export async function balance ({ bench, runs, seconds, connections, sessions, clients, systems }) {
  const http = join(bench, 'apps', 'http.mjs')
  const h2 = join(bench, 'apps', 'h2.mjs')
  const ws = join(bench, 'apps', 'ws.mjs')
  const clusterApp = join(bench, 'apps', 'cluster.mjs')
  const all = [
    { key: 'ours', label: 'reload run --workers 2 (ours)', start: (app) => keeper(app, 2) },
    { key: 'pm2', label: 'PM2 cluster -i 2', start: (app) => pm2(app, 2) },
    { key: 'cluster', label: "Node's cluster module, 2 workers", start: (app) => cluster(clusterApp, app, 2) }
  ].filter((s) => systems.includes(s.key))
  const keepAlive = (n) => async (port) => {
    const r = await load(`http://127.0.0.1:${port}/`, seconds, n, { byPid: true })
    return { answers: r.pids, rps: r.rps, errors: r.errors + r.non2xx }
  }
  const sessionsRun = async (port) => {
    const r = await h2Run(`http://127.0.0.1:${port}`, sessions, seconds)
    return { answers: r.streams, connections: r.sessions, errors: r.errors }
  }
  const clientsRun = async (port) => {
    const r = await wsRun(`ws://127.0.0.1:${port}/`, clients, seconds)
    return { answers: r.messages, connections: r.clients, errors: r.errors }
  }
  const loads = [
    ...connections.map((n) => ({ key: `keepalive${n}`, label: `${n} keep-alive connections`, app: http, run: keepAlive(n) })),
    { key: 'h2', label: `${sessions} HTTP/2 sessions`, app: h2, run: sessionsRun },
    { key: 'ws', label: `${clients} WebSocket clients`, app: ws, run: clientsRun }
  ]
  const rows = []
  try {
    for (const l of loads) {
      for (const s of all) {
        const row = { load: l.key, loadLabel: l.label, system: s.key, label: s.label, runs: [] }
        rows.push(row)
        let server
        try {
          status(`balance · ${l.label} · ${s.label} · starting`)
          const port = await freePort()
          server = await s.start(l.app)(port)
          row.workers = server.workers
          for (let i = 1; i <= runs; i++) {
            // The last run's clients are gone from the workers before the next ones come: each run starts
            // from nothing, as the first does (ours counts what each worker has open as the workers say it).
            if (i > 1) await sleep(1000)
            status(`balance · ${l.label} · ${s.label} · run ${i}/${runs}`)
            const r = await l.run(port)
            const run = { shares: shares(r.answers, server.workers), errors: r.errors, ...(r.rps !== undefined && { rps: r.rps }) }
            if (r.connections !== undefined) run.connections = server.workers.map((pid) => r.connections[pid] ?? 0)
            row.runs.push(run)
          }
          const top = row.runs.map((r) => Math.max(...r.shares))
          row.topShare = spread(top, 1)
          row.inBounds = row.runs.filter((r) => within(r.shares)).length
          row.errors = row.runs.reduce((n, r) => n + r.errors, 0)
        } catch (err) {
          row.error = err.message
        } finally {
          await server?.stop()
          if (s.key === 'pm2') await killPm2()
        }
      }
    }
  } finally {
    clear()
    await killPm2()
  }
  return { rows, bounds: SHARE_BOUNDS }
}

/** One line per row, for the console. */
export function balanceLine (r) {
  if (r.error !== undefined) return `balance · ${r.loadLabel} · ${r.label}: error: ${r.error}`
  const runs = r.runs.map((x) => `${x.shares.join('/')}${x.connections === undefined ? '' : ` (${x.connections.join('/')} conns)`}`).join(', ')
  return `balance · ${r.loadLabel} · ${r.label}: shares ${runs}; ${r.inBounds}/${r.runs.length} runs within ${SHARE_BOUNDS.join('–')}%, busiest worker ${r.topShare.median}% (median), ${r.errors} errors`
}

/** The markdown section. */
export function balanceMarkdown (part) {
  const lines = ['## Balance: how 2 workers share clients that keep their connections', '',
    `Each run opens its connections at once; a worker's share is its part of the answers (HTTP/2 streams, WebSocket messages), the target ${SHARE_BOUNDS.join('–')}% for each worker in every run of ours.`, '',
    '| load | system | shares per run (connections per worker) | runs within bounds | busiest worker, median | errors |', '|---|---|---|---|---|---|']
  for (const r of part.rows ?? []) {
    if (r.error !== undefined) { lines.push(`| ${r.loadLabel} | ${r.label} | error: ${r.error} | | | |`); continue }
    const runs = r.runs.map((x) => `${x.shares.join(' / ')}${x.connections === undefined ? '' : ` (${x.connections.join('/')})`}`).join('; ')
    lines.push(`| ${r.loadLabel} | ${r.label} | ${runs} | ${r.inBounds}/${r.runs.length} | ${r.topShare.median}% | ${r.errors} |`)
  }
  return lines.join('\n')
}

/** Whether ours missed the target somewhere: the rows that did. */
export function balanceProblems (part) {
  return (part.rows ?? []).filter((r) => r.system === 'ours' && (r.error !== undefined || r.inBounds !== r.runs.length))
}
