// Part 9, supervision: what the keeper does for a worker that is alive but no use, against PM2, same run.
//   hang    the one worker spins forever (`GET /hang` runs `while (true) {}`): `reload run --liveness-timeout`
//           against PM2 fork mode (no liveness check): hang → first answer from another pid, failed and
//           refused requests meanwhile;
//   memory  the one worker leaks (10 MB every 200 ms): `reload run --max-memory` against PM2's
//           `max_memory_restart`: recycles (pids seen), failed requests per recycle, the RSS each reached.
// Everything is measured from the client side (pids in the answers, failures): the keeper's own lines are
// kept beside the figures, not read for them.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { clear, status } from './progress.mjs'
import { exitOf, freePort, isAlive, now, Proc, rssMb, signal, sleep, started, waitGone } from './procs.mjs'
import { Recorder } from './recorder.mjs'
import { round, spread } from './stats.mjs'
import { killPm2, Pm2, reloadBin, whenServing } from './systems.mjs'

export const supervisionPartsAll = ['hang', 'memory']

const host = '127.0.0.1'
const fmt = (n) => (n === undefined || n === null || Number.isNaN(n) ? '–' : typeof n === 'number' ? n.toLocaleString('en-US') : String(n))
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const kinds = (byKind) => Object.entries(byKind ?? {}).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${fmt(n)}`).join(', ') || '–'
const mid = (s) => (s?.n > 0 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '–')

/** The leak's arguments to the app (bench/apps/hang-leak.mjs). */
const leakArgs = (leak) => leak === undefined ? [] : [`--leak-mb=${leak.mb}`, `--leak-every=${leak.every}`, `--leak-cap-mb=${leak.capMb}`]

/**
 * `reload run --listen 127.0.0.1:PORT --workers 1 <flags> -- node app <args>`, the plain app (BENCH_PLAIN=1)
 * with a control socket of its own. Keeps every line; `keeperLines(from)` are the keeper's own.
 */
class Run {
  constructor ({ app, port, flags, args = [] }) {
    Object.assign(this, { app, port, flags, args })
  }

  async start () {
    this.dir = mkdtempSync(join(tmpdir(), 'reload-bench-supervision-'))
    const args = ['run', '--listen', `${host}:${this.port}`, '--workers', '1', ...this.flags, '--control', join(this.dir, 'control.sock'),
      '--', process.execPath, this.app, ...this.args]
    this.command = `reload ${args.slice(0, args.indexOf('--control')).join(' ')} -- node ${basename(this.app)} ${this.args.join(' ')}`.trim()
    this.proc = new Proc(reloadBin, { args, env: { PORT: String(this.port), HOST: host, BENCH_PLAIN: '1' }, cwd: dirname(this.app) })
    this.proc.label = `reload run ${basename(this.app)}`
    this.tag = `reload[${this.proc.pid}]: `
    const { match } = await started(this.proc, new RegExp(`^${esc(this.tag)}(?:\\w+: )?(?:\\d+ workers|worker) ready on \\S+ \\(ms=\\d+ workers=([\\d,]+)\\)`))
    this.current = Number(match[1].split(',')[0])
    return this.current
  }

  get lines () { return this.proc?.lines.length ?? 0 }

  /** The keeper's own lines (not its workers'), from line `from` on. */
  keeperLines (from = 0) {
    return (this.proc?.lines ?? []).slice(from).filter((l) => l.startsWith(this.tag))
  }

  /** The keeper and every worker it said it started. */
  get pids () {
    const pids = this.proc === undefined ? [] : [this.proc.pid]
    for (const line of this.keeperLines()) {
      const match = /starting worker \d+ \(worker=(\d+) /.exec(line)
      if (match !== null) pids.push(Number(match[1]))
    }
    return pids
  }

  /** SIGTERM to the keeper; whatever of it, its workers and `seen` is left after 15 s is SIGKILLed. */
  async stop (seen = []) {
    if (this.proc === undefined) return []
    const pids = [...new Set([...this.pids, ...seen])]
    signal(this.proc.pid, 'SIGTERM')
    const left = await waitGone(pids, 15_000)
    for (const pid of left) signal(pid, 'SIGKILL')
    await waitGone(left, 2000)
    rmSync(this.dir, { recursive: true, force: true })
    return left
  }
}

/** PM2 fork mode, 1 instance, the plain app, PM2's defaults but for `extra` (max_memory_restart). */
class Pm2Fork {
  constructor ({ app, port, extra = {}, args = [] }) {
    this.pm2 = new Pm2({ app, port, mode: 'fork', plain: true, name: `bench-supervision-${port}` })
    // Pm2.settings carry the availability part's listen_timeout and kill_timeout: here only PM2's own defaults.
    this.pm2.settings = { instances: 1, ...extra, ...(args.length > 0 && { args }) }
    this.command = `PM2 fork mode, 1 instance${Object.entries(extra).map(([k, v]) => `, ${k} '${v}'`).join('')}: ${basename(app)} ${args.join(' ')}`.trim()
  }

  async start () {
    this.current = await this.pm2.start()
    return this.current
  }

  get lines () { return pm2Log().length }

  /** PM2's daemon log (pm2.log in its home) from line `from` on. */
  keeperLines (from = 0) { return pm2Log().slice(from) }

  /** `pm2 delete`, then SIGKILL to whatever of its first pid and `seen` is left. */
  async stop (seen = []) {
    const left = await this.pm2.stop()
    const more = [...new Set(seen)].filter(isAlive)
    for (const pid of more) signal(pid, 'SIGKILL')
    await waitGone(more, 2000)
    return [...left, ...more]
  }
}

function pm2Log () {
  if (process.env.PM2_HOME === undefined) return []
  try { return readFileSync(join(process.env.PM2_HOME, 'pm2.log'), 'utf8').split('\n').filter(Boolean) } catch { return [] }
}

/** The pids that answered 2xx in `outcomes` from index `from` on. */
function answered (outcomes, from = 0) {
  const pids = new Set()
  for (let i = from; i < outcomes.count; i++) if (outcomes.out[i] >= 200 && outcomes.out[i] <= 299 && outcomes.pid[i] > 0) pids.add(outcomes.pid[i])
  return pids
}

/** Failed requests of `outcomes` (from index `from`), by kind. */
function failures (outcomes, from = 0) {
  const byKind = {}
  let failed = 0
  let non2xx = 0
  for (let i = from; i < outcomes.count; i++) {
    const kind = outcomes.kindAt(i)
    if (kind !== undefined) { failed++; byKind[kind] = (byKind[kind] ?? 0) + 1 } else if (outcomes.out[i] < 200 || outcomes.out[i] > 299) non2xx++
  }
  return { requests: outcomes.count - from, failed, refused: byKind.ECONNREFUSED ?? 0, other: failed - (byKind.ECONNREFUSED ?? 0), byKind, non2xx }
}

/**
 * Waits for the first 2xx in the recorder's outcomes (from index `from`) from a pid other than `oldPid`:
 * `{ end, pid }` (the answer's end, bench clock), or undefined after `ms`.
 */
async function firstOther (recorder, from, oldPid, ms) {
  const o = recorder.outcomes
  const deadline = now() + ms
  let i = from
  while (true) {
    for (; i < o.count; i++) {
      if (o.out[i] >= 200 && o.out[i] <= 299 && o.pid[i] > 0 && o.pid[i] !== oldPid) return { end: o.t[i] + o.ms[i], pid: o.pid[i] }
    }
    if (now() >= deadline) return undefined
    await sleep(5)
  }
}

/** `GET /hang` on a connection of its own; resolves when written. The process that takes it spins forever. */
function hang (url) {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('/hang', url), { agent: false })
    req.on('error', (err) => reject(new Error(`GET /hang: ${err.message}`)))
    req.on('response', () => reject(new Error('GET /hang was answered')))
    req.on('finish', () => {
      resolve(now())
      // It never gets an answer: the connection goes once the spin has surely begun.
      setTimeout(() => { req.removeAllListeners('error'); req.on('error', () => {}); req.destroy() }, 500).unref()
    })
  })
}

// ---------------------------------------------------------------------------------------------------------
// (a) hang

/**
 * For ours (`hangs` times, one keeper) and PM2 (`pm2Hangs` times): under the recorder's keep-alive load
 * (`connections`, each request given up after `timeout`, a new connection after a failure), `lead` ms, one
 * `GET /hang`, then until the first answer from another pid (at most `cap` ms), then `tail` ms; a load of
 * its own per hang, so each hang's failures are its own. `settle` ms between hangs, so the replacement has
 * lived past the keeper's crash-loop window before it is hung in turn.
 */
async function hangPart ({ app, hangs, pm2Hangs, liveness, cap, connections, timeout, lead, tail, settle, only, onRow }) {
  const systems = [
    { system: 'ours', label: `reload run --workers 1 --liveness-timeout ${liveness} (ours)`, n: hangs, create: (port) => new Run({ app, port, flags: ['--liveness-timeout', liveness] }) },
    { system: 'pm2', label: 'PM2 fork mode, 1 instance, defaults (no liveness check)', n: pm2Hangs, create: (port) => new Pm2Fork({ app, port }) }
  ].filter((s) => only === undefined || only.includes(s.system))
  const rows = []
  try {
    for (const s of systems) {
      const row = await hangOne({ ...s, cap, connections, timeout, lead, tail, settle })
      rows.push(row)
      onRow?.('hang', row)
      if (s.system === 'pm2') await killPm2()
    }
  } finally {
    await killPm2()
  }
  return { rows }
}

async function hangOne ({ system, label, n, create, cap, connections, timeout, lead, tail, settle }) {
  const port = await freePort()
  const url = `http://${host}:${port}/`
  const sys = create(port)
  const row = { system, label, hangsAsked: n, cap }
  const samples = []
  const seen = new Set()
  let recorder
  try {
    let pid = await sys.start()
    row.command = sys.command
    const missing = await whenServing(url, [pid])
    if (missing.length > 0) throw new Error(`pid ${pid} did not answer within 10 s of the start`)
    for (let k = 1; k <= n; k++) {
      const load = new Recorder(url, { connections, slowShare: 0, timeout, errorPause: 10 }).start()
      recorder = load
      const began = now()
      status('', () => `supervision · hang · ${label} · hang ${k}/${n} · ${fmt(load.count)} requests · ${fmt(load.failed)} failed · ${round((now() - began) / 1000, 0)} s`)
      await sleep(lead)
      const lines = sys.lines
      const gone = exitOf(pid)
      const from = recorder.count
      const at = await hang(url)
      const back = await firstOther(recorder, from, pid, cap)
      await sleep(tail)
      await recorder.stop()
      const goneAt = await Promise.race([gone, sleep(0)])
      for (const p of answered(recorder.outcomes)) seen.add(p)
      const f = failures(recorder.outcomes)
      const sample = {
        pid,
        newPid: back?.pid,
        back: back === undefined ? undefined : round(back.end - at),
        // The hung pid gone (killed by the supervisor), from the hang.
        gone: goneAt === undefined ? undefined : round(goneAt - at),
        seconds: round((recorder.stoppedAt - recorder.startedAt) / 1000),
        ...f,
        lines: sys.keeperLines(lines).slice(0, 40)
      }
      samples.push(sample)
      recorder = undefined
      clear()
      if (back === undefined) break
      pid = back.pid
      if (k < n) await sleep(settle)
    }
  } catch (err) {
    row.error = err.message
  } finally {
    clear()
    if (recorder !== undefined) await recorder.stop()
    row.leftover = await sys.stop([...seen, ...samples.map((s) => s.pid)])
    row.linesAtStop = sys.keeperLines().slice(-20)
  }
  const backs = samples.map((s) => s.back)
  const sum = (key) => samples.reduce((a, s) => a + s[key], 0)
  Object.assign(row, {
    hangs: samples.length,
    samples,
    back: spread(backs),
    notBack: backs.filter((b) => b === undefined).length,
    gone: spread(samples.map((s) => s.gone)),
    failedEach: samples.map((s) => s.failed),
    failed: spread(samples.map((s) => s.failed), 0),
    refused: spread(samples.map((s) => s.refused), 0),
    failedTotal: sum('failed'),
    refusedTotal: sum('refused'),
    requests: sum('requests'),
    byKind: samples.reduce((acc, s) => { for (const [k, v] of Object.entries(s.byKind)) acc[k] = (acc[k] ?? 0) + v; return acc }, {}),
    non2xx: sum('non2xx')
  })
  return row
}

// ---------------------------------------------------------------------------------------------------------
// (b) memory

/**
 * For ours (`--max-memory`) and PM2 (`max_memory_restart`), each with a fresh daemon (so PM2's 30 s check
 * starts with it): the leaking app under the recorder's load for `seconds` s. Recycles are the pids that
 * answered, less one; each worker's RSS is read every 100 ms while it lives.
 */
async function memoryPart ({ app, maxMemory, leak, seconds, connections, timeout, only, onRow }) {
  const args = leakArgs(leak)
  const systems = [
    { system: 'ours', label: `reload run --workers 1 --max-memory ${maxMemory} (ours)`, create: (port) => new Run({ app, port, flags: ['--max-memory', maxMemory], args }) },
    { system: 'pm2', label: `PM2 fork mode, 1 instance, max_memory_restart '${maxMemory}'`, create: (port) => new Pm2Fork({ app, port, extra: { max_memory_restart: maxMemory }, args }) }
  ].filter((s) => only === undefined || only.includes(s.system))
  const rows = []
  try {
    for (const s of systems) {
      if (s.system === 'pm2') await killPm2()
      const row = await memoryOne({ ...s, seconds, connections, timeout })
      rows.push(row)
      onRow?.('memory', row)
      if (s.system === 'pm2') await killPm2()
    }
  } finally {
    await killPm2()
  }
  return { rows }
}

async function memoryOne ({ system, label, create, seconds, connections, timeout }) {
  const port = await freePort()
  const url = `http://${host}:${port}/`
  const sys = create(port)
  const row = { system, label, secondsAsked: seconds }
  const peak = new Map()
  const firstAt = new Map()
  let recorder
  let sampler
  const lines = sys.lines
  try {
    const pid = await sys.start()
    row.command = sys.command
    const missing = await whenServing(url, [pid])
    if (missing.length > 0) throw new Error(`pid ${pid} did not answer within 10 s of the start`)
    recorder = new Recorder(url, { connections, slowShare: 0, timeout, errorPause: 10 }).start()
    let scanned = 0
    const o = recorder.outcomes
    const sample = () => {
      for (; scanned < o.count; scanned++) {
        const p = o.pid[scanned]
        if (p > 0 && !firstAt.has(p)) firstAt.set(p, o.t[scanned] + o.ms[scanned])
      }
      for (const p of [pid, ...firstAt.keys()]) {
        const mb = rssMb(p)
        if (mb !== undefined && mb > (peak.get(p) ?? 0)) peak.set(p, mb)
      }
    }
    sampler = setInterval(sample, 100)
    const end = now() + seconds * 1000
    status('', () => `supervision · memory · ${label} · ${fmt(recorder.count)} requests · ${fmt(recorder.failed)} failed · ${firstAt.size} pids · ${Math.max(0, Math.round((end - now()) / 1000))} s left`)
    await sleep(seconds * 1000)
    await recorder.stop()
    sample()
  } catch (err) {
    row.error = err.message
  } finally {
    clear()
    clearInterval(sampler)
    if (recorder !== undefined && recorder.stoppedAt === undefined) await recorder.stop()
    row.lines = sys.keeperLines(lines).filter((l) => system !== 'pm2' || /memory|restart|exit|kill|start/i.test(l)).slice(0, 60)
    row.leftover = await sys.stop([...firstAt.keys()])
  }
  if (recorder === undefined) return row
  const f = failures(recorder.outcomes)
  const order = [...firstAt.entries()].sort((a, b) => a[1] - b[1])
  const pids = order.map(([p]) => p)
  const recycles = Math.max(0, pids.length - 1)
  // From one pid's first answer to the next one's: how long each worker served.
  const served = order.slice(1).map(([, at], i) => at - order[i][1])
  Object.assign(row, {
    seconds: round((recorder.stoppedAt - recorder.startedAt) / 1000),
    ...f,
    pids: pids.length,
    recycles,
    failedPerRecycle: recycles > 0 ? round(f.failed / recycles, 1) : undefined,
    refusedPerRecycle: recycles > 0 ? round(f.refused / recycles, 1) : undefined,
    served: spread(served),
    // The RSS each recycled worker reached (the last one's is cut short by the end of the load).
    peakRss: spread(pids.slice(0, -1).map((p) => peak.get(p)), 0),
    maxRss: round(Math.max(0, ...peak.values()), 0),
    pidList: pids
  })
  return row
}

// ---------------------------------------------------------------------------------------------------------

/** Both sub-parts (`parts`), each ours then PM2. */
export async function supervision ({ parts = supervisionPartsAll, app, hangs, pm2Hangs = 1, liveness, cap, maxMemory, leak, seconds, connections, timeout, lead = 1000, tail = 1000, settle = 2500, only, onRow }) {
  const result = {}
  const load = { connections, timeout }
  if (parts.includes('hang')) {
    const began = now()
    try {
      result.hang = await hangPart({ app, hangs, pm2Hangs, liveness, cap, lead, tail, settle, only, onRow, ...load })
    } catch (err) {
      result.hang = { error: err.stack ?? err.message }
    }
    result.hang.seconds = Math.round((now() - began) / 1000)
    result.hang.ratios = hangRatios(result.hang.rows)
  }
  if (parts.includes('memory')) {
    const began = now()
    try {
      result.memory = await memoryPart({ app, maxMemory, leak, seconds, only, onRow, ...load })
    } catch (err) {
      result.memory = { error: err.stack ?? err.message }
    }
    result.memory.seconds = Math.round((now() - began) / 1000)
    result.memory.ratios = memoryRatios(result.memory.rows)
  }
  return result
}

const ratio = (a, b, digits = 2) => (a === undefined || b === undefined || b === 0 ? undefined : round(a / b, digits))

function hangRatios (rows = []) {
  const ours = rows.find((r) => r.system === 'ours')
  const pm2 = rows.find((r) => r.system === 'pm2')
  if (ours === undefined || pm2 === undefined) return undefined
  // PM2 not back within the cap: ours ÷ PM2 is at most ours ÷ cap.
  const capped = pm2.back.n === 0
  return {
    back: capped ? ratio(ours.back.median, pm2.cap) : ratio(ours.back.median, pm2.back.median),
    backCapped: capped,
    failed: ratio(ours.failed.median, pm2.failed.median)
  }
}

function memoryRatios (rows = []) {
  const ours = rows.find((r) => r.system === 'ours')
  const pm2 = rows.find((r) => r.system === 'pm2')
  if (ours === undefined || pm2 === undefined) return undefined
  return {
    failedPerRecycle: ratio(ours.failedPerRecycle, pm2.failedPerRecycle),
    recycles: ratio(ours.recycles, pm2.recycles),
    peakRss: ratio(ours.peakRss?.median, pm2.peakRss?.median)
  }
}

/** One line per row, as the bench prints them. */
export function supervisionLine (name, r) {
  if (r.requests === undefined) return `supervision · ${name} · ${r.label}: error: ${r.error}`
  const err = r.error !== undefined ? `; error: ${r.error.split('\n')[0]}` : ''
  if (name === 'hang') {
    return `supervision · hang · ${r.label}: ${r.hangs} hang${r.hangs === 1 ? '' : 's'}, hang → answer from another pid ${r.samples.map((s) => s.back === undefined ? `not back within ${r.cap / 1000} s` : `${fmt(s.back)} ms`).join(', ')}` +
      `${r.back.n > 1 ? ` (median ${fmt(r.back.median)} ms)` : ''}; hung pid gone ${r.samples.map((s) => s.gone === undefined ? 'no' : `${fmt(s.gone)} ms`).join(', ')}; ` +
      `failed ${r.failedEach.join(', ')} (${kinds(r.byKind)}), refused ${fmt(r.refusedTotal)}${err}`
  }
  return `supervision · memory · ${r.label}: ${r.seconds} s, ${fmt(r.requests)} requests, ${r.pids} pids → ${r.recycles} recycles, ${fmt(r.failed)} failed (${kinds(r.byKind)}), ` +
    `${fmt(r.failedPerRecycle)} per recycle; each worker served ${mid(r.served)} ms, peak RSS ${mid(r.peakRss)} MB${err}`
}

/** The ratio lines, ours ÷ PM2. */
export function supervisionRatioLines (part) {
  const lines = []
  const h = part.hang?.ratios
  if (h !== undefined) {
    lines.push(`supervision · hang · ours ÷ PM2: hang → back ${h.backCapped ? `< ${fmt(h.back)} (PM2 not back within the cap)` : fmt(h.back)}, failed requests per hang ${fmt(h.failed)} (medians)`)
  }
  const m = part.memory?.ratios
  if (m !== undefined) lines.push(`supervision · memory · ours ÷ PM2: failed per recycle ${fmt(m.failedPerRecycle)}, recycles ${fmt(m.recycles)}, peak RSS ${fmt(m.peakRss)}`)
  return lines
}

/**
 * What went wrong: `errors` (the bench or a system broke, a process was left) and `failures` (ours did not do
 * its job: a hang not replaced within the cap, no recycle at all, a refused connection).
 */
export function supervisionProblems (part, tag = '') {
  const errors = []
  const failures = []
  for (const name of supervisionPartsAll) {
    const p = part[name]
    if (p === undefined) continue
    if (p.error !== undefined) errors.push(`${tag}supervision · ${name}: ${p.error}`)
    for (const r of p.rows ?? []) {
      if (r.error !== undefined) errors.push(`${tag}supervision · ${name} · ${r.label}: ${r.error.split('\n')[0]}`)
      if (r.leftover?.length > 0) errors.push(`${tag}supervision · ${name} · ${r.label}: pids ${r.leftover.join(', ')} still alive at the end, killed`)
      if (r.system !== 'ours') continue
      if (r.error !== undefined) failures.push(`${tag}supervision · ${name} · ${r.label}: ${r.error.split('\n')[0]}`)
      if (name === 'hang' && r.requests !== undefined) {
        if (r.notBack > 0 || r.hangs < r.hangsAsked) failures.push(`${tag}supervision · hang · ${r.label}: ${r.notBack} of ${r.hangs} hangs not answered by another pid within ${r.cap / 1000} s`)
        if (r.refusedTotal > 0) failures.push(`${tag}supervision · hang · ${r.label}: ${r.refusedTotal} refused connections (the keeper holds the socket)`)
      }
      if (name === 'memory' && r.requests !== undefined && r.recycles === 0) failures.push(`${tag}supervision · memory · ${r.label}: no recycle in ${r.seconds} s`)
    }
  }
  return { errors, failures }
}

/** The part's section of the report. */
export function supervisionMarkdown (part) {
  const took = part.seconds === undefined ? '' : `, ${part.seconds} s`
  const lines = [`## 9. Supervision: a hung worker, a leaking worker${part.at === undefined ? '' : ` <sub>(run ${part.at}${took})</sub>`}`, '']
  if (part.error !== undefined) return [...lines, `**error**: ${part.error}`, '']
  const c = part.config ?? {}
  lines.push('The app is `bench/apps/hang-leak.mjs` (node:http, no reload code, `BENCH_PLAIN=1`), one worker: `reload run --workers 1` against PM2 fork mode ' +
    `with 1 instance, one after the other in the same run. Load: our recorder, ${c.connections} keep-alive connections, each request given up after ` +
    `${fmt(c.timeout)} ms (a timeout), a new connection after each failure (10 ms later). Everything is measured from the client side: the pid in ` +
    'each answer, the failures by kind.', '')
  const h = part.hang
  if (h !== undefined) {
    lines.push(`### 9a. Hang${h.seconds === undefined ? '' : ` <sub>(${h.seconds} s)</sub>`}`, '')
    lines.push(`Under the load, ${fmt(c.lead)} ms, then one \`GET /hang\` (the worker runs \`while (true) {}\`: alive, holding its connections, answering ` +
      `nothing), then until the first 2xx answer from another pid (**back**; at most ${fmt(c.cap / 1000)} s), then ${fmt(c.tail)} ms; a load of its own per hang. ` +
      `Ours: \`--liveness-timeout ${c.liveness}\`, ${c.hangs} hang${c.hangs === 1 ? '' : 's'} in a row on one keeper, ${fmt(c.settle)} ms apart; PM2 (its defaults; it has no liveness ` +
      `check): ${c.pm2Hangs} hang${c.pm2Hangs === 1 ? '' : 's'}. **failed** counts every request of a hang's load that got no answer; **refused** those of ` +
      'them that found nothing listening (ECONNREFUSED). **hung pid gone**: from the hang to the spinning process gone.', '')
    if (h.error !== undefined) lines.push(`**error**: ${h.error}`, '')
    lines.push('| system | hangs | hang → back, median (min–max) ms | each | hung pid gone, median ms | failed per hang, median (each) | failed by kind (all hangs) | refused | requests |')
    lines.push('|---|--:|---|---|---|---|---|--:|--:|')
    for (const r of h.rows ?? []) {
      if (r.requests === undefined) { lines.push(`| ${r.label} | – | **error**: ${r.error?.split('\n')[0]} | | | | | | |`); continue }
      const each = r.samples.map((s) => (s.back === undefined ? `not back within ${fmt(r.cap / 1000)} s` : fmt(s.back))).join(', ')
      const back = r.back.n > 0 ? mid(r.back) : `**not back within ${fmt(r.cap / 1000)} s**`
      const gone = r.gone.n > 0 ? `${fmt(r.gone.median)}${r.gone.n < r.hangs ? ` (${r.hangs - r.gone.n} never)` : ''}` : 'never (still spinning)'
      lines.push(`| ${r.label}${r.error !== undefined ? ' (stopped: error)' : ''} | ${r.hangs} | ${back} | ${each} | ${gone} | ${fmt(r.failed.median)} (${r.failedEach.join(', ')}) | ` +
        `${kinds(r.byKind)} | ${fmt(r.refusedTotal)} | ${fmt(r.requests)} |`)
    }
    lines.push('')
    const x = h.ratios
    if (x !== undefined) {
      lines.push(`**Ours ÷ PM2** (medians): hang → back ${x.backCapped ? `**< ${fmt(x.back)}** (PM2 was not back within ${fmt(c.cap / 1000)} s; the ratio is against the cap)` : `**${fmt(x.back)}**`}, ` +
        `failed requests per hang **${fmt(x.failed)}**${x.backCapped ? ' (PM2\'s go on as long as the cap: it never stops failing)' : ''}.`, '')
    }
  }
  const m = part.memory
  if (m !== undefined) {
    lines.push(`### 9b. Memory recycle${m.seconds === undefined ? '' : ` <sub>(${m.seconds} s)</sub>`}`, '')
    lines.push(`The app retains ${c.leak?.mb} MB more every ${c.leak?.every} ms (\`Buffer.alloc\`, filled, kept in an array; at most ${c.leak?.capMb} MB), under the load ` +
      `for ${c.seconds} s per system. Ours: \`--max-memory ${c.maxMemory}\`; PM2: \`max_memory_restart: '${c.maxMemory}'\` (its daemon checks every ` +
      'worker\'s memory every 30 s, `PM2_WORKER_INTERVAL`, and restarts one over the limit; a fresh daemon here, so its first check falls about 30 s into ' +
      'the load). **recycles**: pids that answered, less one. **served**: from one pid\'s first answer to the next one\'s. **peak RSS**: the highest RSS read ' +
      '(every 100 ms) of each worker that was recycled.', '')
    if (m.error !== undefined) lines.push(`**error**: ${m.error}`, '')
    lines.push('| system | seconds | requests | pids | recycles | failed (by kind) | refused | **failed per recycle** | each worker served, median (min–max) ms | peak RSS of a recycled worker, median (min–max) MB | highest RSS (MB) |')
    lines.push('|---|--:|--:|--:|--:|---|--:|--:|---|---|--:|')
    for (const r of m.rows ?? []) {
      if (r.requests === undefined) { lines.push(`| ${r.label} | – | – | – | – | **error**: ${r.error?.split('\n')[0]} | | | | | |`); continue }
      lines.push(`| ${r.label}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.seconds)} | ${fmt(r.requests)} | ${r.pids} | ${r.recycles} | ${fmt(r.failed)} (${kinds(r.byKind)}) | ` +
        `${fmt(r.refused)} | **${fmt(r.failedPerRecycle)}** | ${mid(r.served)} | ${mid(r.peakRss)} | ${fmt(r.maxRss)} |`)
    }
    lines.push('')
    const x = m.ratios
    if (x !== undefined) lines.push(`**Ours ÷ PM2**: failed requests per recycle **${fmt(x.failedPerRecycle)}**, recycles ${fmt(x.recycles)}, peak RSS of a recycled worker ${fmt(x.peakRss)}.`, '')
  }
  const said = []
  for (const [name, p] of [['hang', h], ['memory', m]]) {
    for (const r of p?.rows ?? []) {
      if (r.system !== 'ours') continue
      const got = name === 'hang' ? (r.samples ?? []).flatMap((s) => s.lines) : (r.lines ?? [])
      if (got.length > 0) said.push(`${name} · ${r.label}:`, '', '```', ...got.slice(0, 20), ...(got.length > 20 ? [`… ${got.length - 20} more in the JSON`] : []), '```', '')
    }
  }
  if (said.length > 0) lines.push('What the keeper said meanwhile (its own lines, not read for any figure):', '', ...said)
  const { failures: f } = supervisionProblems(part)
  lines.push(`**Ours:** ${f.length === 0 ? '✅ every hang replaced within the cap with no refused connection, and the leaking worker recycled' : `❌ ${f.join('; ')}`}`, '')
  return lines
}
