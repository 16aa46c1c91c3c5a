// Part 8, long-lived connections across reloads: the HTTP/2, WebSocket and Server-Sent Events examples, each
// with many clients that stay connected through a series of reloads. A plain request/response load says
// nothing about these: a connection that outlives the drain must be told to go away, politely, by its own
// protocol, and its client must land on the new pid without losing anything.
//   h2   sessions with concurrent streams: failed streams, REFUSED_STREAM (retried), GOAWAYs, pids;
//   ws   WebSocket clients: close codes (1001 before the TCP close, or not), reconnects to the new pid, and
//        how the 1001s spread over the go-away window;
//   sse  EventSource-style clients: events lost or duplicated across the reconnects, resumes on the new pid.
// For each, how long every old pid took from its drain start to its exit, against the window.
import http from 'node:http'
import http2 from 'node:http2'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { clear, status } from './progress.mjs'
import { freePort, now, rssMb, sleep } from './procs.mjs'
import { kindOf, parseBody } from './recorder.mjs'
import { latency, round, spread } from './stats.mjs'
import { Ours } from './systems.mjs'

const fmt = (n) => (n === undefined || n === null || Number.isNaN(n) ? '–' : typeof n === 'number' ? n.toLocaleString('en-US') : String(n))
const examples = fileURLToPath(new URL('../../examples/', import.meta.url))
const host = '127.0.0.1'

/** The sub-parts by the name used on the command line. */
export const longlivedPartsAll = ['h2', 'ws', 'sse']

/**
 * The go-away window the examples run with: what the core resolves from the environment they inherit
 * (RELOAD_GOAWAY_WINDOW, or 1000 ms, or half of RELOAD_DRAIN_TIMEOUT if that is less). The examples set
 * neither option in code.
 */
export function goAwayWindow (env = process.env) {
  if (env.RELOAD_GOAWAY_WINDOW !== undefined && env.RELOAD_GOAWAY_WINDOW !== '') return Number(env.RELOAD_GOAWAY_WINDOW)
  const drain = env.RELOAD_DRAIN_TIMEOUT === undefined || env.RELOAD_DRAIN_TIMEOUT === '' ? 30_000 : Number(env.RELOAD_DRAIN_TIMEOUT)
  return Math.min(1000, drain / 2)
}

/** The soft limit on open files of this process (its children inherit it), from /proc. */
function openFilesLimit () {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return match === null || match[1] === 'unlimited' ? Infinity : Number(match[1])
  } catch {
    return Infinity
  }
}

/** p50, p99 and max of `values` with their count, rounded; `{ n: 0 }` when empty. */
const dist = (values) => latency(values.filter((v) => v !== undefined && Number.isFinite(v)))
const ratio = (a, b) => (a !== undefined && b > 0 ? round(a / b, 2) : undefined)
const count = (into, kind) => { into[kind] = (into[kind] ?? 0) + 1 }
const first = (values) => (values.length === 0 ? undefined : round(Math.min(...values)))

async function until (test, ms) {
  const deadline = now() + ms
  while (!test()) {
    if (now() > deadline) return false
    await sleep(10)
  }
  return true
}

/**
 * Starts the example `script` under reload, connects `load` (`start(url)`, `stop()`, optional
 * `beforeReload(oldPid)` and `settled(event)`), and reloads `reloads` times: one every `interval` ms, never
 * sooner than `serve` ms after the last generation was ready, nor before `load.settled(event)` (every
 * client back, on the new pid; at most `settle` ms). Each event gets `drainAt`, when the old pid said it
 * drains (its `draining` line), and `oldExitAt`, when it was gone.
 */
async function underReloads ({ name, script, reloads, interval, serve = 500, settle = 10_000, lead = 500, tail = 500, load, progress }) {
  const port = await freePort()
  const ours = new Ours({ script, port })
  const events = []
  const run = { events }
  let n = 0
  try {
    await ours.start()
    run.firstPid = ours.pid
    await load.start(`${host}:${port}`, ours.pid)
    status('', () => `longlived · ${name} · reload ${n}/${reloads} · ${progress()}`)
    await sleep(lead)
    for (n = 1; n <= reloads; n++) {
      const old = ours.pid
      load.beforeReload?.(old)
      // Waited for from before the signal, so the line's arrival is timed as it comes.
      const draining = ours.proc.waitFor(new RegExp(`^reload\\[${old}\\]: draining \\(`), { ms: 30_000, from: ours.proc.lines.length })
        .then((m) => m.at, () => undefined)
      const event = await ours.reload()
      events.push(event)
      event.oldPid = old
      event.newPid = ours.pid
      event.oldExit.then((at) => { event.oldExitAt = at })
      event.drainAt = await draining
      if (load.settled !== undefined) event.settled = await until(() => load.settled(event), settle)
      await sleep(Math.max(0, interval - (now() - event.at), serve - (now() - event.readyAt)))
    }
    n = reloads
    // The last old pid drains with the load on, so its figures are as whole as the others'.
    if (events.length > 0) await Promise.race([events.at(-1).oldExit, sleep(settle)])
    await sleep(tail)
    run.lastRssMb = round(rssMb(ours.pid))
  } catch (err) {
    run.error = err.message
  } finally {
    clear()
    await load.stop()
    const deadline = sleep(10_000)
    for (const e of events) e.oldExitAt = await Promise.race([e.oldExit, deadline])
    run.leftover = await ours.stop()
    // What every generation said, for the JSON: a failure's reason is often there, a crash's always.
    run.log = ours.proc.lines
    // An old pid that is gone without its `exiting` line did not drain: it died (a crash, a signal).
    for (const e of events) {
      const re = new RegExp(`^reload\\[${e.oldPid}\\]: exiting \\(code=(\\d+)\\)`)
      const line = run.log.find((l) => re.test(l))
      e.exitCode = line === undefined ? undefined : Number(re.exec(line)[1])
    }
    run.died = events.filter((e) => e.exitCode === undefined).map((e) => e.oldPid)
    run.exitedNonZero = events.filter((e) => e.exitCode !== undefined && e.exitCode !== 0).map((e) => e.oldPid)
    run.otherOutput = run.log.filter((l) => !/^reload\[\d+\]: |^listening on /.test(l)).slice(0, 20)
  }
  return run
}

/** Drain start → exit of each old pid: their median and max, and each against the window. */
function drainToExit (events, window) {
  const ms = events.map((e) => (e.drainAt === undefined || e.oldExitAt === undefined ? undefined : e.oldExitAt - e.drainAt))
  const s = spread(ms)
  return { ...s, missing: ms.filter((v) => v === undefined).length, medianToWindow: ratio(s.median, window), maxToWindow: ratio(s.max, window) }
}

/** The times of `ats` from the drain start (or the first of them, if the old pid's line never came). */
function fromDrain (ats, drainAt) {
  const start = drainAt ?? Math.min(...ats)
  return ats.map((at) => at - start)
}

// ---------------------------------------------------------------------------------------------------------
// h2: sessions of Node's HTTP/2 client, each with concurrent streams, a share of them slow.

const NOTICE = 2 ** 31 - 1
const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants
const timeoutError = () => Object.assign(new Error('timeout'), { code: 'TIMEOUT' })

/**
 * `sessions` clients, each with `streams` loops that open one stream after the other on the client's
 * session. A client whose session got a GOAWAY opens a new session for its next streams, as a good client
 * does; streams in flight finish where they are. A stream refused with REFUSED_STREAM (never processed) is
 * sent again on the client's current session, up to 5 times; any other end without an answer fails it.
 */
class H2Load {
  streams = 0
  answered = 0
  non2xx = 0
  refused = 0
  /** The session of each refused stream, its pid read once an answer named it. */
  refusedOn = []
  failed = 0
  failedByKind = {}
  /** The first failed streams: `{ kind, rec, at }`, for the JSON. */
  failures = []
  sessionErrors = {}
  sessionsOpened = 0
  finals = 0
  /** The first GOAWAY of each session: `{ rec, at }`, its pid read from `rec` once an answer named it. */
  notices = []
  pids = new Set()
  ms = []
  #running = false
  #loops = []
  #records = new Set()
  #sent = 0

  constructor ({ sessions, streams, slowShare, slow, timeout = 5000 }) {
    this.options = { sessions, streams, slowShare, slow, timeout }
  }

  async start (address) {
    this.url = `http://${address}`
    this.#running = true
    for (let c = 0; c < this.options.sessions; c++) {
      const client = { rec: undefined }
      for (let s = 0; s < this.options.streams; s++) this.#loops.push(this.#loop(client))
    }
  }

  #session (client) {
    const current = client.rec
    if (current !== undefined && !current.away && !current.session.closed && !current.session.destroyed) return current
    const rec = { session: http2.connect(this.url), pid: 0, away: false }
    this.sessionsOpened++
    this.#records.add(rec)
    rec.session.on('goaway', (code, last) => {
      if (!rec.away) this.notices.push({ rec, at: now(), code, notice: last === NOTICE })
      else this.finals++
      rec.away = true
      if (client.rec === rec) client.rec = undefined
    })
    rec.session.on('error', (err) => count(this.sessionErrors, kindOf(err)))
    rec.session.once('close', () => {
      this.#records.delete(rec)
      if (client.rec === rec) client.rec = undefined
    })
    client.rec = rec
    return rec
  }

  async #loop (client) {
    const { slowShare, slow } = this.options
    while (this.#running) {
      const n = this.#sent++
      const path = `/?sleep=${Math.floor((n + 1) * slowShare) > Math.floor(n * slowShare) ? slow : 0}`
      let outcome
      for (let attempt = 1; attempt <= 5; attempt++) {
        outcome = await this.#one(client, path)
        if (outcome !== 'refused') break
      }
      if (outcome === 'refused') this.#fail('refused 5 times', client.rec)
      if (outcome !== 'ok') await sleep(10)
    }
  }

  #fail (kind, rec) {
    this.failed++
    count(this.failedByKind, kind)
    if (this.failures.length < 200) this.failures.push({ kind, rec, at: now() })
  }

  #one (client, path) {
    return new Promise((resolve) => {
      const rec = this.#session(client)
      const start = now()
      this.streams++
      let stream
      try {
        stream = rec.session.request({ ':path': path })
      } catch (err) {
        this.#fail(kindOf(err), rec)
        resolve('failed')
        return
      }
      let status = 0
      let body = ''
      let ended = false
      let error
      stream.setEncoding('utf8')
      stream.on('response', (headers) => { status = headers[':status'] })
      stream.on('data', (chunk) => { body += chunk })
      stream.on('end', () => { ended = true })
      stream.on('error', (err) => { error ??= err })
      stream.setTimeout(this.options.timeout, () => {
        error ??= timeoutError()
        stream.close(NGHTTP2_CANCEL)
      })
      stream.once('close', () => {
        if (ended && status > 0 && error === undefined) {
          const { pid } = parseBody(body)
          if (pid > 0) {
            this.pids.add(pid)
            if (rec.pid === 0) rec.pid = pid
          }
          this.ms.push(now() - start)
          if (status >= 200 && status <= 299) this.answered++
          else this.non2xx++
          resolve('ok')
          return
        }
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM) {
          this.refused++
          this.refusedOn.push(rec)
          resolve('refused')
          return
        }
        this.#fail(error === undefined ? `closed without an answer (RST_STREAM ${stream.rstCode})` : kindOf(error), rec)
        resolve('failed')
      })
    })
  }

  async stop () {
    this.#running = false
    await Promise.race([Promise.all(this.#loops), sleep(this.options.timeout * 5 + 1000)])
    for (const rec of this.#records) rec.session.close()
    await until(() => this.#records.size === 0, 2000)
    for (const rec of this.#records) rec.session.destroy()
  }
}

async function h2Part ({ reloads, interval, sessions, streams, slowShare, slow, window }) {
  const load = new H2Load({ sessions, streams, slowShare, slow })
  const run = await underReloads({
    name: 'h2',
    script: join(examples, 'http2', 'server.js'),
    reloads,
    interval,
    load,
    progress: () => `${fmt(load.streams)} streams · ${fmt(load.failed)} failed · ${fmt(load.refused)} refused · ${fmt(load.notices.length)} GOAWAYs`
  })
  const perReload = run.events.map((e) => {
    const notices = load.notices.filter((x) => x.rec.pid === e.oldPid).map((x) => x.at)
    const offsets = fromDrain(notices, e.drainAt)
    return {
      oldPid: e.oldPid,
      newPid: e.newPid,
      toReady: round(e.readyAt - e.at),
      sessionsTold: notices.length,
      refused: load.refusedOn.filter((rec) => rec.pid === e.oldPid).length,
      drainToGoAway: dist(offsets),
      firstGoAway: first(offsets),
      drainToExit: round(e.oldExitAt === undefined || e.drainAt === undefined ? undefined : e.oldExitAt - e.drainAt)
    }
  })
  const offsets = run.events.flatMap((e) => fromDrain(load.notices.filter((x) => x.rec.pid === e.oldPid).map((x) => x.at), e.drainAt))
  const goAway = dist(offsets)
  return {
    sessions,
    streamsPerSession: streams,
    ...runFacts(run, reloads),
    streams: load.streams,
    answered: load.answered,
    non2xx: load.non2xx,
    failed: load.failed,
    failedByKind: load.failedByKind,
    refused: load.refused,
    refusedShare: load.streams > 0 ? round(load.refused / load.streams * 100, 3) : undefined,
    refusedPerReload: spread(perReload.map((r) => r.refused), 0),
    sessionErrors: load.sessionErrors,
    sessionsOpened: load.sessionsOpened,
    // A session whose first GOAWAY already names a last stream had no notice: its streams in flight were cut short.
    goAways: { notices: load.notices.length, finals: load.finals, firstNotNotice: load.notices.filter((x) => !x.notice || x.code !== 0).length },
    pids: load.pids.size,
    pidsExpected: run.events.length + 1,
    latency: dist(load.ms),
    drainToGoAway: { ...goAway, p50ToWindow: ratio(goAway.p50, window), p99ToWindow: ratio(goAway.p99, window) },
    drainToExit: drainToExit(run.events, window),
    perReload,
    // Each failed stream with its session's pid and, if that pid drained, the time since its drain start.
    failures: load.failures.map(({ kind, rec, at }) => {
      const e = run.events.find((x) => x.oldPid === rec?.pid)
      return { kind, pid: rec?.pid, reload: e === undefined ? undefined : run.events.indexOf(e) + 1, sinceDrain: round(e?.drainAt === undefined ? undefined : at - e.drainAt) }
    }),
    log: run.log
  }
}

// ---------------------------------------------------------------------------------------------------------
// ws: WebSocket clients of `ws`, each asking the server's pid at every (re)connect.

/**
 * `clients` WebSockets, opened at most `concurrency` at a time (a burst of a thousand handshakes would
 * overflow the listen backlog, and a dropped SYN waits a second for its retry). Each sends `pid` once open
 * and is connected once the answer came. A client closed by the server reconnects: at once after a 1001, as
 * the server asks, or after 100 ms after anything else; its first answer then says which pid it reached.
 */
// What every sub-part reports of its reload run, beside its own figures.
function runFacts (run, reloads) {
  return {
    reloads: run.events.length,
    reloadsAsked: reloads,
    error: run.error,
    leftover: run.leftover,
    died: run.died,
    exitedNonZero: run.exitedNonZero,
    otherOutput: run.otherOutput
  }
}

// What the WebSocket and event-stream loads share: clients that each stay on one pid until told to go
// away, timers that stop with the load, and the check that every client is back on the new pid.
class ClientLoad {
  clients = []
  running = false
  #timers = new Set()

  later (ms, fn) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      if (this.running) fn()
    }, ms)
    this.#timers.add(timer)
  }

  stopTimers () {
    this.running = false
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
  }

  beforeReload (old) {
    this.onOld = this.clients.filter((c) => c.open && c.pid === old).length
  }

  settled (event) {
    event.clientsOnOld = this.onOld
    return this.clients.every((c) => c.open && c.pid === event.newPid)
  }
}

class WsLoad extends ClientLoad {
  clients = []
  /** Closes of connections that had answered: `{ pid, code, at }`. */
  closes = []
  /** Answers after a reconnect: `{ client, fromPid, closedAt, pid, at }`. */
  answers = []
  failedConnects = {}
  reconnects = 0

  constructor ({ clients, concurrency = 100, timeout = 5000 }) {
    super()
    this.options = { clients, concurrency, timeout }
  }

  get connected () { return this.clients.reduce((n, c) => n + (c.open ? 1 : 0), 0) }

  async start (address, pid) {
    this.url = `ws://${address}/`
    this.running = true
    for (let i = 0; i < this.options.clients; i++) this.clients.push({ id: i, ws: undefined, pid: 0, open: false })
    let next = 0
    const opener = async () => {
      while (next < this.clients.length) await this.#connect(this.clients[next++])
    }
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, this.clients.length) }, opener))
    const on = this.clients.filter((c) => c.open && c.pid === pid).length
    if (on < this.clients.length) {
      await until(() => this.clients.every((c) => c.open && c.pid === pid), 10_000)
      const still = this.clients.filter((c) => !(c.open && c.pid === pid)).length
      if (still > 0) throw new Error(`${still} of ${this.clients.length} WebSocket clients were not connected to pid ${pid} 10 s after the start`)
    }
  }

  #connect (c, previous) {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: this.options.timeout })
      c.ws = ws
      let answered = false
      let error
      ws.on('open', () => ws.send('pid'))
      ws.on('message', (data) => {
        if (answered) return
        answered = true
        c.pid = parseBody(String(data)).pid
        c.open = true
        if (previous !== undefined) this.answers.push({ client: c.id, fromPid: previous.pid, closedAt: previous.at, pid: c.pid, at: now() })
        resolve()
      })
      ws.on('error', (err) => { error ??= err })
      ws.on('close', (code) => {
        const at = now()
        c.open = false
        resolve()
        if (!this.running) return
        if (answered) this.closes.push({ pid: c.pid, code, at })
        else count(this.failedConnects, error === undefined ? `closed ${code} before the answer` : kindOf(error))
        // A failed attempt keeps the close it follows, so the answer that comes last is still timed from it.
        const after = answered ? { pid: c.pid, at } : previous
        this.later(code === 1001 ? 0 : 100, () => {
          this.reconnects++
          this.#connect(c, after)
        })
      })
    })
  }

  async stop () {
    this.stopTimers()
    for (const c of this.clients) if (c.ws !== undefined && c.ws.readyState <= WebSocket.OPEN) c.ws.close(1000)
    await until(() => this.clients.every((c) => c.ws === undefined || c.ws.readyState === WebSocket.CLOSED), 5000)
    for (const c of this.clients) c.ws?.terminate()
  }
}

async function wsPart ({ reloads, interval, clients, window }) {
  // Each client holds a socket here and one in the server (which inherits this limit).
  const limit = openFilesLimit()
  const need = clients + 256
  if (limit < need) {
    throw new Error(`${fmt(clients)} WebSocket clients need about ${fmt(need)} open files, and the limit here is ${fmt(limit)}: ` +
      `raise it (ulimit -n ${need}) and run again`)
  }
  const load = new WsLoad({ clients })
  const run = await underReloads({
    name: 'ws',
    script: join(examples, 'websocket', 'server.js'),
    reloads,
    interval,
    load,
    progress: () => `${fmt(load.connected)}/${fmt(clients)} connected · ${fmt(load.closes.length)} closes · ` +
      `${fmt(load.closes.filter((c) => c.code !== 1001).length)} not 1001 · ${fmt(load.reconnects)} reconnects`
  })
  const codes = { 1001: 0, 1006: 0, other: 0 }
  for (const c of load.closes) codes[c.code === 1001 || c.code === 1006 ? c.code : 'other']++
  const perReload = run.events.map((e) => {
    const closes = load.closes.filter((c) => c.pid === e.oldPid)
    const ats = closes.filter((c) => c.code === 1001).map((c) => c.at)
    const offsets = fromDrain(ats, e.drainAt)
    const back = load.answers.filter((a) => a.fromPid === e.oldPid)
    const onNew = new Set(back.filter((a) => a.pid === e.newPid).map((a) => a.client))
    return {
      oldPid: e.oldPid,
      newPid: e.newPid,
      toReady: round(e.readyAt - e.at),
      clientsOnOld: e.clientsOnOld,
      got1001: ats.length,
      got1006: closes.filter((c) => c.code === 1006).length,
      gotOther: closes.filter((c) => c.code !== 1001 && c.code !== 1006).length,
      missing1001: Math.max(0, (e.clientsOnOld ?? 0) - ats.length),
      reconnectedToNew: onNew.size,
      reconnectedElsewhere: back.filter((a) => a.pid !== e.newPid).length,
      settled: e.settled,
      drainTo1001: dist(offsets),
      first1001: first(offsets),
      closeToNewPid: dist(back.filter((a) => a.pid === e.newPid).map((a) => a.at - a.closedAt)),
      drainToExit: round(e.oldExitAt === undefined || e.drainAt === undefined ? undefined : e.oldExitAt - e.drainAt)
    }
  })
  const pooled = dist(run.events.flatMap((e) => fromDrain(load.closes.filter((c) => c.pid === e.oldPid && c.code === 1001).map((c) => c.at), e.drainAt)))
  const p50s = perReload.map((r) => r.drainTo1001.p50)
  const p99s = perReload.map((r) => r.drainTo1001.p99)
  return {
    clients,
    ...runFacts(run, reloads),
    openFilesLimit: Number.isFinite(limit) ? limit : 'unlimited',
    closes: load.closes.length,
    codes,
    missing1001: perReload.reduce((n, r) => n + r.missing1001, 0),
    failedConnects: load.failedConnects,
    reconnects: load.reconnects,
    reconnectedToNew: perReload.reduce((n, r) => n + r.reconnectedToNew, 0),
    reconnectedExpected: perReload.reduce((n, r) => n + (r.clientsOnOld ?? 0), 0),
    reconnectedElsewhere: perReload.reduce((n, r) => n + r.reconnectedElsewhere, 0),
    drainTo1001: { ...pooled, p50ToWindow: ratio(pooled.p50, window), p99ToWindow: ratio(pooled.p99, window) },
    perReloadP50: spread(p50s),
    perReloadP99: spread(p99s),
    first1001: spread(perReload.map((r) => r.first1001)),
    closeToNewPid: dist(load.answers.filter((a) => a.pid !== a.fromPid).map((a) => a.at - a.closedAt)),
    drainToExit: drainToExit(run.events, window),
    serverRssMb: run.lastRssMb,
    benchRssMb: round(process.memoryUsage().rss / 2 ** 20),
    perReload,
    log: run.log
  }
}

// ---------------------------------------------------------------------------------------------------------
// sse: EventSource-style clients over node:http, with a parser of text/event-stream.

/**
 * A text/event-stream parser, as the HTML standard has EventSource parse a stream: lines end with CRLF,
 * LF or CR; a blank line dispatches the event; `data`, `event`, `id` (not with a NUL) and `retry` (digits
 * only) fields; comments (a leading colon) and unknown fields ignored. At each dispatch the last event ID
 * is the id buffer's (so an event without an id keeps the one before); an event without data is not
 * dispatched.
 */
export class EventStreamParser {
  #buffer = ''
  #data = []
  #event = ''
  #id = ''
  #lastCr = false

  /** `on` = { event({ id, type, data }), retry(ms), id(lastEventId) } */
  constructor (on) {
    this.on = on
  }

  feed (chunk) {
    let text = chunk
    // A CR at the end of the last chunk and an LF at the start of this one are one line end.
    if (this.#lastCr && text.startsWith('\n')) text = text.slice(1)
    this.#lastCr = text.endsWith('\r')
    this.#buffer += text
    const lines = this.#buffer.split(/\r\n|\r|\n/)
    this.#buffer = lines.pop()
    for (const line of lines) this.#line(line)
  }

  #line (line) {
    if (line === '') { this.#dispatch(); return }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#event = value
    else if (field === 'id') { if (!value.includes('\0')) this.#id = value } else if (field === 'retry') { if (/^\d+$/.test(value)) this.on.retry?.(Number(value)) }
  }

  #dispatch () {
    this.on.id?.(this.#id)
    if (this.#data.length > 0) this.on.event?.({ id: this.#id, type: this.#event || 'message', data: this.#data.join('\n') })
    this.#data = []
    this.#event = ''
  }
}

// EventSource's reconnection time before the server sent one: what browsers use.
const DEFAULT_RETRY = 3000

/**
 * `clients` EventSource-style clients of GET /events, each with a keep-alive agent of its own, as each
 * browser has its own pool. (One pool for all would hand a reconnect the socket another client's stream
 * just ended on, in the moment before that socket's close arrives: a "socket hang up" that no browser of
 * one user would see.) Each keeps the last event id and the reconnection time the stream gave it; when its
 * stream ends (or fails) it reconnects after that time with `Last-Event-ID`. Every event's id is checked
 * against the client's last one: a jump forward is events lost, a step back or a repeat a duplicate.
 */
class SseLoad extends ClientLoad {
  clients = []
  /** Ends of streams that had events: `{ client, pid, at, polite }` (polite: a `retry:` came first). */
  ends = []
  /** First event after a reconnect: `{ client, fromPid, pid, gapless, at, endedAt }`. */
  resumes = []
  errors = {}
  events = 0
  lost = 0
  duplicates = 0
  gaps = []

  constructor ({ clients, timeout = 5000 }) {
    super()
    this.options = { clients, timeout }
  }

  get connected () { return this.clients.reduce((n, c) => n + (c.open ? 1 : 0), 0) }

  async start (address, pid) {
    const [hostname, port] = address.split(':')
    this.target = { host: hostname, port: Number(port) }
    this.running = true
    for (let i = 0; i < this.options.clients; i++) {
      const c = { id: i, lastId: '', last: undefined, retry: DEFAULT_RETRY, pid: 0, open: false, events: 0, req: undefined, agent: new http.Agent({ keepAlive: true }) }
      this.clients.push(c)
      this.#open(c)
    }
    if (!await until(() => this.clients.every((c) => c.open && c.pid === pid), 10_000)) {
      throw new Error(`${this.clients.filter((c) => !c.open).length} of ${this.clients.length} event streams had no event from pid ${pid} 10 s after the start`)
    }
  }

  #open (c, previous) {
    const headers = { accept: 'text/event-stream', 'cache-control': 'no-cache' }
    if (c.lastId !== '') headers['last-event-id'] = c.lastId
    const req = http.get({ ...this.target, path: '/events', agent: c.agent, headers })
    c.req = req
    let pid = 0
    let polite = false
    let over = false
    const parser = new EventStreamParser({
      id: (id) => { c.lastId = id },
      retry: (ms) => { c.retry = ms; polite = true },
      event: ({ id, data }) => {
        const from = parseBody(data).pid
        // The first event of a stream says which pid serves it, and, after a reconnect, whether it resumed.
        let resumedAfter
        if (pid === 0) {
          pid = from
          c.open = true
          resumedAfter = previous
        }
        this.#event(c, Number(id), from, resumedAfter)
      }
    })
    const ended = (kind) => {
      if (over) return
      over = true
      const at = now()
      c.open = false
      if (!this.running) return
      if (kind !== undefined) count(this.errors, kind)
      if (pid !== 0) this.ends.push({ client: c.id, pid, at, polite: polite && kind === undefined })
      // A stream that brought nothing keeps the end it follows, so the resume is still measured from it.
      const after = pid !== 0 ? { pid, at } : previous
      this.later(c.retry, () => this.#open(c, after))
    }
    req.on('response', (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.resume()
        ended(`status ${res.statusCode} ${res.headers['content-type']}`)
        return
      }
      res.setEncoding('utf8')
      res.on('data', (chunk) => parser.feed(chunk))
      res.on('end', () => ended())
      res.on('error', (err) => ended(kindOf(err)))
      res.on('aborted', () => ended('aborted'))
    })
    req.on('error', (err) => ended(kindOf(err)))
  }

  #event (c, n, pid, resumedAfter) {
    this.events++
    c.events++
    if (resumedAfter !== undefined) {
      this.resumes.push({ client: c.id, fromPid: resumedAfter.pid, pid, gapless: c.last !== undefined && n === c.last + 1, at: now(), endedAt: resumedAfter.at })
    }
    c.pid = pid
    if (c.last === undefined || n === c.last + 1) {
      c.last = n
      return
    }
    if (n > c.last + 1) {
      this.lost += n - c.last - 1
      this.gaps.push({ client: c.id, after: c.last, next: n, pid })
      c.last = n
      return
    }
    this.duplicates++
  }

  async stop () {
    // How far behind the clock each client is when the load stops: one that stalled would lose the
    // events it never asked for, without a gap in what it got.
    const tick = Math.floor(Date.now() / 100)
    this.behind = this.clients.map((c) => (c.last === undefined ? undefined : tick - c.last))
    this.stopTimers()
    for (const c of this.clients) {
      c.req?.destroy()
      c.agent.destroy()
    }
  }
}

// A client more than this many 100 ms ticks behind at the end has stalled: more than a reconnect's worth.
const STALLED_TICKS = 10

async function ssePart ({ reloads, interval, clients, window }) {
  const load = new SseLoad({ clients })
  const run = await underReloads({
    name: 'sse',
    script: join(examples, 'sse', 'server.js'),
    reloads,
    interval,
    load,
    progress: () => `${fmt(load.connected)}/${fmt(clients)} streaming · ${fmt(load.events)} events · ${fmt(load.lost)} lost · ${fmt(load.duplicates)} duplicates`
  })
  const perReload = run.events.map((e) => {
    const ends = load.ends.filter((x) => x.pid === e.oldPid)
    const back = load.resumes.filter((x) => x.fromPid === e.oldPid)
    return {
      oldPid: e.oldPid,
      newPid: e.newPid,
      toReady: round(e.readyAt - e.at),
      clientsOnOld: e.clientsOnOld,
      ended: ends.length,
      endedPolitely: ends.filter((x) => x.polite).length,
      resumedOnNew: new Set(back.filter((x) => x.pid === e.newPid && x.gapless).map((x) => x.client)).size,
      resumedElsewhere: back.filter((x) => x.pid !== e.newPid).length,
      settled: e.settled,
      drainToEnd: dist(fromDrain(ends.map((x) => x.at), e.drainAt)),
      endToNewPid: dist(back.filter((x) => x.pid === e.newPid).map((x) => x.at - x.endedAt)),
      drainToExit: round(e.oldExitAt === undefined || e.drainAt === undefined ? undefined : e.oldExitAt - e.drainAt)
    }
  })
  const ends = dist(run.events.flatMap((e) => fromDrain(load.ends.filter((x) => x.pid === e.oldPid).map((x) => x.at), e.drainAt)))
  const behind = load.behind ?? []
  return {
    clients,
    ...runFacts(run, reloads),
    events: load.events,
    lost: load.lost,
    duplicates: load.duplicates,
    // A client with no event at all is as stalled as can be.
    stalled: behind.filter((b) => b === undefined || b > STALLED_TICKS).length,
    behindAtEnd: spread(behind, 0),
    ends: load.ends.length,
    endedPolitely: load.ends.filter((x) => x.polite).length,
    errors: load.errors,
    resumedOnNew: perReload.reduce((n, r) => n + r.resumedOnNew, 0),
    resumedExpected: perReload.reduce((n, r) => n + (r.clientsOnOld ?? 0), 0),
    drainToEnd: { ...ends, p50ToWindow: ratio(ends.p50, window), p99ToWindow: ratio(ends.p99, window) },
    endToNewPid: dist(load.resumes.filter((x) => x.pid !== x.fromPid).map((x) => x.at - x.endedAt)),
    drainToExit: drainToExit(run.events, window),
    serverRssMb: run.lastRssMb,
    perReload,
    gaps: load.gaps.slice(0, 50),
    log: run.log
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * The sub-parts in `parts`, one after the other, each against its own example. `h2`, `ws`, `sse` hold each
 * one's sizes (`reloads`, and `sessions`/`streams`, `clients`); `interval` is the time from one reload to
 * the next. Resolves with each sub-part's figures (or `{ error }`), and the window they were measured against.
 */
export async function longlived ({ parts, interval, slowShare, slow, h2, ws, sse, onPart }) {
  const window = goAwayWindow()
  const result = { window }
  const runs = { h2: () => h2Part({ ...h2, interval, slowShare, slow, window }), ws: () => wsPart({ ...ws, interval, window }), sse: () => ssePart({ ...sse, interval, window }) }
  for (const name of longlivedPartsAll.filter((p) => parts.includes(p))) {
    const began = Date.now()
    try {
      result[name] = await runs[name]()
    } catch (err) {
      result[name] = { error: err.message }
    }
    result[name].seconds = Math.round((Date.now() - began) / 1000)
    onPart?.(name, result[name])
  }
  return result
}

/**
 * What went wrong in `part` (the result of {@link longlived}), one line each. `errors`: the bench could not
 * measure (an error, a process left alive, reloads not done). `failures`: ours failed its clients: a failed
 * h2 stream, a WebSocket closed without a 1001 before its TCP close, an event lost, or a client that did not
 * come back on the new pid.
 */
export function longlivedProblems (part) {
  const errors = []
  const failures = []
  const { h2, ws, sse } = part
  if (part.error !== undefined) errors.push(`longlived: ${part.error.split('\n')[0]}`)
  for (const [name, r] of Object.entries({ h2, ws, sse })) {
    if (r === undefined) continue
    if (r.error !== undefined) errors.push(`longlived · ${name}: ${r.error.split('\n')[0]}`)
    if (r.leftover?.length > 0) errors.push(`longlived · ${name}: pids ${r.leftover.join(', ')} still alive at the end, killed`)
    if (r.reloads !== undefined && r.reloads < r.reloadsAsked) errors.push(`longlived · ${name}: ${r.reloads} of ${r.reloadsAsked} reloads done`)
    if (r.died?.length > 0) {
      failures.push(`longlived · ${name}: old pids ${r.died.join(', ')} died while draining, without their exit${r.otherOutput.length > 0 ? ` (the server's output: ${r.otherOutput.slice(0, 3).join(' | ')})` : ''}`)
    }
    if (r.exitedNonZero?.length > 0) failures.push(`longlived · ${name}: old pids ${r.exitedNonZero.join(', ')} exited with a code other than 0`)
  }
  if (h2?.streams !== undefined) {
    if (h2.failed > 0) failures.push(`longlived · h2: ${h2.failed} failed streams (${kinds(h2.failedByKind)})`)
    if (h2.non2xx > 0) failures.push(`longlived · h2: ${h2.non2xx} non-2xx answers`)
    if (h2.pids < h2.pidsExpected) failures.push(`longlived · h2: ${h2.pids} pids answered, expected ${h2.pidsExpected} (one per generation)`)
  }
  if (ws?.codes !== undefined) {
    if (ws.codes[1006] > 0 || ws.codes.other > 0 || ws.missing1001 > 0) {
      failures.push(`longlived · ws: ${ws.codes[1006]} closes 1006, ${ws.codes.other} other, ${ws.missing1001} clients without a 1001`)
    }
    if (Object.keys(ws.failedConnects).length > 0) failures.push(`longlived · ws: failed connects (${kinds(ws.failedConnects)})`)
    if (ws.reconnectedToNew < ws.reconnectedExpected) failures.push(`longlived · ws: ${ws.reconnectedToNew} of ${ws.reconnectedExpected} clients reconnected to the new pid`)
  }
  if (sse?.events !== undefined) {
    if (sse.lost > 0) failures.push(`longlived · sse: ${sse.lost} events lost`)
    if (sse.stalled > 0) failures.push(`longlived · sse: ${sse.stalled} clients stalled (more than ${STALLED_TICKS} events behind at the end)`)
    if (sse.resumedOnNew < sse.resumedExpected) failures.push(`longlived · sse: ${sse.resumedOnNew} of ${sse.resumedExpected} streams resumed on the new pid`)
  }
  return { errors, failures }
}

const reloadsText = (r) => `${r.reloads} reload${r.reloads === 1 ? '' : 's'}`

/** One line per sub-part, for the progress output. */
export function longlivedLine (name, r) {
  if (r.error !== undefined && r.reloads === undefined) return `longlived · ${name}: error: ${r.error}`
  const exit = `old pid drain → exit ${fmt(r.drainToExit.median)} ms (median), max ${fmt(r.drainToExit.max)}`
  const error = r.error === undefined ? '' : `; error: ${r.error}`
  if (name === 'h2') {
    return `longlived · h2: ${r.sessions} sessions × ${r.streamsPerSession} streams, ${reloadsText(r)}, ${fmt(r.streams)} streams, ${fmt(r.failed)} failed, ` +
      `${fmt(r.refused)} REFUSED_STREAM (retried), ${fmt(r.goAways.notices)} + ${fmt(r.goAways.finals)} GOAWAYs, ${r.pids} pids (${r.pidsExpected}), ${exit}${error}`
  }
  if (name === 'ws') {
    return `longlived · ws: ${fmt(r.clients)} clients, ${reloadsText(r)}, closes 1001 ${fmt(r.codes[1001])} / 1006 ${fmt(r.codes[1006])} / other ${fmt(r.codes.other)}, ` +
      `missing 1001 ${fmt(r.missing1001)}, ${fmt(r.reconnectedToNew)} of ${fmt(r.reconnectedExpected)} reconnected to the new pid, ` +
      `drain → 1001 p50 ${fmt(r.drainTo1001.p50)} / p99 ${fmt(r.drainTo1001.p99)} ms, ${exit}${error}`
  }
  return `longlived · sse: ${fmt(r.clients)} clients, ${reloadsText(r)}, ${fmt(r.events)} events, ${fmt(r.lost)} lost, ${fmt(r.duplicates)} duplicates, ` +
    `${fmt(r.resumedOnNew)} of ${fmt(r.resumedExpected)} resumed on the new pid, ${exit}${error}`
}

// ---------------------------------------------------------------------------------------------------------
// The report's section.

const mark = (ok) => (ok ? '✅ met' : '❌ not met')
const trio = (l) => (l?.n > 0 ? `${fmt(l.p50)} / ${fmt(l.p99)} / ${fmt(l.max)}` : '–')
const mid = (s) => (s?.n > 0 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '–')
const kinds = (byKind) => Object.entries(byKind ?? {}).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${fmt(n)}`).join(', ') || '–'
const exitCell = (d) => (d?.n > 0 ? `${fmt(d.median)} / ${fmt(d.max)}` : '–')
const exitRatio = (d) => (d?.n > 0 ? `${fmt(d.medianToWindow)} / ${fmt(d.maxToWindow)}` : '–')
const deaths = (r) => (r.died?.length > 0 || r.exitedNonZero?.length > 0
  ? [`> **${r.died.length} old pid${r.died.length === 1 ? '' : 's'} died while draining** (gone without ${r.died.length === 1 ? 'its' : 'their'} \`exiting\` line${r.died.length > 0 ? `: ${r.died.join(', ')}` : ''})` +
    `${r.exitedNonZero.length > 0 ? `, **${r.exitedNonZero.length} exited with a code other than 0** (${r.exitedNonZero.join(', ')})` : ''}` +
    `${r.otherOutput.length > 0 ? `; the servers' other output: ${r.otherOutput.slice(0, 5).map((l) => `\`${l.replace(/`/g, "'")}\``).join(', ')}` : ''}.`, '']
  : [])
const errorRow = (r, cells) => `| **error**: ${(r.error ?? '?').split('\n')[0]} |${' |'.repeat(cells - 1)}`

/** The Markdown section of this part, from `part` = { at, seconds, config, window, h2, ws, sse }. */
export function longlivedMarkdown (part) {
  const took = part.seconds === undefined ? '' : `, ${part.seconds} s`
  const lines = [`## 8. Long-lived connections across reloads${part.at === undefined ? '' : ` <sub>(run ${part.at}${took})</sub>`}`, '']
  if (part.error !== undefined) return [...lines, `**error**: ${part.error}`, '']
  const c = part.config ?? {}
  const w = part.window
  lines.push('The HTTP/2, WebSocket and Server-Sent Events examples (`examples/{http2,websocket,sse}/server.js`), each under its own clients through a ' +
    `series of \`kill -HUP\`: one every ${fmt(c.interval)} ms, or 500 ms after the new generation was ready if that is later; for ws and sse also not ` +
    `before every client is back on the new pid (at most 10 s). The go-away window is ${fmt(w)} ms (the default): at a drain, each long-lived ` +
    'connection is told to go away at a random moment within it. **drain start** is when the old pid logs `draining`; **drain → exit** runs from ' +
    'there to the old pid gone, shown as median / max and their ratio to the window. Each sub-part ran once, in this run.', '')
  if (part.h2 !== undefined) lines.push(...h2Section(part.h2, c, w))
  if (part.ws !== undefined) lines.push(...wsSection(part.ws, w))
  if (part.sse !== undefined) lines.push(...sseSection(part.sse, w))
  return lines
}

function h2Section (r, c, w) {
  const lines = [`### 8a. HTTP/2 sessions${r.seconds === undefined ? '' : ` <sub>(${r.seconds} s)</sub>`}`, '']
  lines.push(`Node's HTTP/2 client (h2c): ${r.sessions ?? '?'} clients, each with ${r.streamsPerSession ?? '?'} concurrent streams on its session, one after the ` +
    `other, 1 in ${Math.round(1 / c.slowShare)} asking for \`?sleep=${c.slow}\`; ${r.reloadsAsked ?? '?'} reloads. A client whose session gets a GOAWAY opens a new ` +
    'session for its next streams; streams in flight finish where they are. **REFUSED_STREAM**: a stream the client sent before it read the first GOAWAY, ' +
    'refused by the final one as never processed, and sent again by the client (counted apart, up to 5 times each). **failed**: any other stream that ' +
    'ended without an answer. **GOAWAYs**: the first of each session (the notice, last stream 2^31 − 1) + the final ones. **drain → GOAWAY**: from the ' +
    'drain start to each session\'s notice, pooled over the reloads.', '')
  lines.push('| sessions × streams | reloads | streams | answered | **failed** (by kind) | REFUSED_STREAM, retried (share) | REFUSED_STREAM per reload, median (min–max) | non-2xx | GOAWAYs: notices + finals | sessions opened | pids seen (expected) | drain → GOAWAY p50 / p99 / max (ms) | p50, p99 ÷ window | old pid drain → exit, median / max (ms) | ÷ window | stream latency p50 / p99 / max (ms) |')
  lines.push('|---|--:|--:|--:|---|--:|---|--:|--:|--:|--:|---|---|---|---|---|')
  if (r.streams === undefined) lines.push(errorRow(r, 16))
  else {
    const d = r.drainToGoAway
    lines.push(`| ${r.sessions} × ${r.streamsPerSession} | ${r.reloads}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.streams)} | ${fmt(r.answered)} | ` +
      `**${fmt(r.failed)}**${r.failed > 0 ? ` (${kinds(r.failedByKind)})` : ''} | ${fmt(r.refused)} (${fmt(r.refusedShare)}%) | ${mid(r.refusedPerReload)} | ${fmt(r.non2xx)} | ` +
      `${fmt(r.goAways.notices)} + ${fmt(r.goAways.finals)}${r.goAways.firstNotNotice > 0 ? ` (**${fmt(r.goAways.firstNotNotice)} sessions without the notice**)` : ''} | ${fmt(r.sessionsOpened)} | ${r.pids} (${r.pidsExpected}) | ${trio(d)} | ${fmt(d.p50ToWindow)}, ${fmt(d.p99ToWindow)} | ` +
      `${exitCell(r.drainToExit)} | ${exitRatio(r.drainToExit)} | ${trio(r.latency)} |`)
  }
  lines.push('')
  if (Object.keys(r.sessionErrors ?? {}).length > 0) lines.push(`Session errors: ${kinds(r.sessionErrors)}.`, '')
  lines.push(...deaths(r))
  const ok = r.streams !== undefined && r.error === undefined && r.failed === 0 && r.non2xx === 0
  lines.push(`**Target: no failed stream across every reload (ours):** ${mark(ok)}` + (ok ? '' : ` (${r.error?.split('\n')[0] ?? `${r.failed} failed, ${r.non2xx} non-2xx`})`), '')
  return lines
}

function wsSection (r, w) {
  const lines = [`### 8b. WebSockets${r.seconds === undefined ? '' : ` <sub>(${r.seconds} s)</sub>`}`, '']
  lines.push(`${fmt(r.clients ?? 0)} clients of \`ws\` (no compression), opened 100 at a time, each sending \`pid\` and answered \`ospid:<pid>\`; ` +
    `${r.reloadsAsked ?? '?'} reloads. The server closes each with 1001 (Going Away) at its moment of the window; \`ws\` gives a client 1006 when its ` +
    'TCP connection closed without a close frame, so a 1001 means it came before the TCP close. A client reconnects at once after a 1001 (100 ms ' +
    'after anything else) and sends `pid` again: **reconnected to the new pid** counts those the new generation answered, of the clients on the ' +
    'old pid at the signal. **drain → 1001**: from the drain start to each client\'s close, pooled over the reloads (the reconnect spread); per ' +
    `reload below. Open files allowed: ${fmt(r.openFilesLimit)}.`, '')
  lines.push('| clients | reloads | closes: 1001 / **1006** / other | **missing 1001** | failed connects | reconnects | reconnected to the new pid (expected) | drain → 1001 p50 / p99 / max (ms) | p50, p99 ÷ window | per-reload p50, median (min–max) ms | per-reload p99, median (min–max) ms | drain → first 1001, median (min–max) ms | close → answer from the new pid p50 / p99 / max (ms) | old pid drain → exit, median / max (ms) | ÷ window | RSS MB: server at the end, bench |')
  lines.push('|--:|--:|---|--:|---|--:|---|---|---|---|---|---|---|---|---|---|')
  if (r.codes === undefined) lines.push(errorRow(r, 16))
  else {
    const d = r.drainTo1001
    const fails = Object.values(r.failedConnects).reduce((a, b) => a + b, 0)
    lines.push(`| ${fmt(r.clients)} | ${r.reloads}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.codes[1001])} / **${fmt(r.codes[1006])}** / ${fmt(r.codes.other)} | ` +
      `**${fmt(r.missing1001)}** | ${fmt(fails)}${fails > 0 ? ` (${kinds(r.failedConnects)})` : ''} | ${fmt(r.reconnects)} | ${fmt(r.reconnectedToNew)} (${fmt(r.reconnectedExpected)})` +
      `${r.reconnectedElsewhere > 0 ? `; ${fmt(r.reconnectedElsewhere)} elsewhere` : ''} | ${trio(d)} | ${fmt(d.p50ToWindow)}, ${fmt(d.p99ToWindow)} | ${mid(r.perReloadP50)} | ` +
      `${mid(r.perReloadP99)} | ${mid(r.first1001)} | ${trio(r.closeToNewPid)} | ${exitCell(r.drainToExit)} | ${exitRatio(r.drainToExit)} | ${fmt(r.serverRssMb)}, ${fmt(r.benchRssMb)} |`)
    lines.push('')
    lines.push('| reload | clients on the old pid | 1001 | 1006 + other | reconnected to the new pid | drain → first 1001 (ms) | drain → 1001 p50 / p99 / max (ms) | p99 ÷ window | old pid drain → exit (ms) |')
    lines.push('|--:|--:|--:|--:|--:|--:|---|--:|--:|')
    for (const [i, x] of r.perReload.entries()) {
      lines.push(`| ${i + 1} | ${fmt(x.clientsOnOld)} | ${fmt(x.got1001)} | ${fmt(x.got1006 + x.gotOther)} | ${fmt(x.reconnectedToNew)} | ${fmt(x.first1001)} | ` +
        `${trio(x.drainTo1001)} | ${fmt(ratio(x.drainTo1001.p99, w))} | ${fmt(x.drainToExit)} |`)
    }
  }
  lines.push('')
  lines.push(...deaths(r))
  const ok = r.codes !== undefined && r.error === undefined && r.codes[1006] === 0 && r.codes.other === 0 && r.missing1001 === 0 &&
    Object.keys(r.failedConnects).length === 0
  lines.push(`**Target: every client gets 1001 before its TCP close, at every reload, and no 1006 (ours):** ${mark(ok)}` +
    (ok ? '' : ` (${r.error?.split('\n')[0] ?? `${r.codes[1006]} × 1006, ${r.codes.other} other, ${r.missing1001} missing`})`), '')
  return lines
}

function sseSection (r, w) {
  const lines = [`### 8c. Server-Sent Events${r.seconds === undefined ? '' : ` <sub>(${r.seconds} s)</sub>`}`, '']
  lines.push(`${fmt(r.clients ?? 0)} EventSource-style clients of \`GET /events\` (our parser of text/event-stream: \`id\`, \`data\`, \`retry\`; each client with a ` +
    `keep-alive agent of its own, as each browser has its own pool), ${r.reloadsAsked ?? '?'} reloads. The server sends one event per 100 ms tick, its id the tick ` +
    '(the same in every generation), its data `ospid:<pid>`; at a drain each stream ends at its moment of the window after a last `retry: 100`, and ' +
    'the client reconnects after that time with `Last-Event-ID`, from which the new pid resumes. **lost**: ids skipped in a client\'s sequence; ' +
    '**duplicates**: an id again or back; **stalled**: a client more than 10 ticks behind the clock when the load stopped. **ended politely**: ' +
    'streams that ended after a `retry:`. **resumed on the new pid**: clients whose first event after the reconnect came from the new pid with the ' +
    'next id, of the clients on the old pid at the signal.', '')
  lines.push('| clients | reloads | events received | **lost** | duplicates | stalled | streams ended (politely) | errors | resumed on the new pid (expected) | drain → stream end p50 / p99 / max (ms) | p50, p99 ÷ window | end → first event from the new pid p50 / p99 / max (ms) | old pid drain → exit, median / max (ms) | ÷ window |')
  lines.push('|--:|--:|--:|--:|--:|--:|---|---|---|---|---|---|---|---|')
  if (r.events === undefined) lines.push(errorRow(r, 14))
  else {
    const d = r.drainToEnd
    lines.push(`| ${fmt(r.clients)} | ${r.reloads}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.events)} | **${fmt(r.lost)}** | ${fmt(r.duplicates)} | ${fmt(r.stalled)} | ` +
      `${fmt(r.ends)} (${fmt(r.endedPolitely)}) | ${kinds(r.errors)} | ${fmt(r.resumedOnNew)} (${fmt(r.resumedExpected)}) | ${trio(d)} | ${fmt(d.p50ToWindow)}, ${fmt(d.p99ToWindow)} | ` +
      `${trio(r.endToNewPid)} | ${exitCell(r.drainToExit)} | ${exitRatio(r.drainToExit)} |`)
    lines.push('')
    lines.push('| reload | clients on the old pid | streams ended (politely) | resumed on the new pid | drain → stream end p50 / p99 / max (ms) | end → first event from the new pid p50 / p99 (ms) | old pid drain → exit (ms) |')
    lines.push('|--:|--:|--:|--:|---|---|--:|')
    for (const [i, x] of r.perReload.entries()) {
      lines.push(`| ${i + 1} | ${fmt(x.clientsOnOld)} | ${fmt(x.ended)} (${fmt(x.endedPolitely)}) | ${fmt(x.resumedOnNew)} | ${trio(x.drainToEnd)} | ` +
        `${x.endToNewPid.n > 0 ? `${fmt(x.endToNewPid.p50)} / ${fmt(x.endToNewPid.p99)}` : '–'} | ${fmt(x.drainToExit)} |`)
    }
  }
  lines.push('')
  lines.push(...deaths(r))
  const ok = r.events !== undefined && r.error === undefined && r.lost === 0 && r.stalled === 0
  lines.push(`**Target: no event lost across every reload (ours):** ${mark(ok)}` + (ok ? '' : ` (${r.error?.split('\n')[0] ?? `${r.lost} lost, ${r.stalled} stalled`})`), '')
  return lines
}
