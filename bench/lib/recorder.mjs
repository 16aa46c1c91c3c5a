// The load generator: keep-alive connections, each sending one request after the other, a share of them
// slow, and every request written down: when it started, how long it took, who answered, or how it failed.
import http from 'node:http'
import { now, sleep } from './procs.mjs'

/** How a failed request failed, from the error Node's client gave. */
export function kindOf (err) {
  if (err.code === 'TIMEOUT') return 'timeout'
  if (err.message === 'socket hang up') return 'socket hang up'
  if (err.message === 'aborted') return 'aborted'
  return err.code ?? err.message
}

/**
 * What an answer's body says: `ospid:<pid>`, and in the dev part's app ` version:<N>` after it, so the bench
 * can tell the new code from the old. `{ pid, version }`, 0 for what is not there.
 */
export function parseBody (body) {
  const match = /^ospid:(\d+)(?: version:(\d+))?/.exec(body)
  return { pid: match === null ? 0 : Number(match[1]), version: match?.[2] === undefined ? 0 : Number(match[2]) }
}

/**
 * Columns of outcomes, one row per request: `t` start (ms, bench clock), `ms` latency, `pid` that answered
 * (0 when none did), `out` the status, or -(1 + index in `kinds`) for an error, `ver` the version in the
 * answer (0 when it has none).
 */
export class Outcomes {
  t = []
  ms = []
  pid = []
  out = []
  ver = []
  kinds = []

  get count () { return this.t.length }

  push (t, ms, pid, status, kind, version = 0) {
    this.t.push(t)
    this.ms.push(ms)
    this.pid.push(pid)
    this.ver.push(version)
    if (kind === undefined) { this.out.push(status); return }
    let k = this.kinds.indexOf(kind)
    if (k === -1) k = this.kinds.push(kind) - 1
    this.out.push(-1 - k)
  }

  kindAt (i) { return this.out[i] < 0 ? this.kinds[-1 - this.out[i]] : undefined }
}

/**
 * Keep-alive load on `url`: `connections` loops on one pooled agent, no retries. One request in
 * `1 / slowShare` asks for `?sleep=<slow>`, so requests are always in flight. After a failed request a loop
 * pauses `errorPause` ms, so a closed port does not turn into thousands of refusals a second.
 */
export class Recorder {
  outcomes = new Outcomes()
  failed = 0
  non2xx = 0
  #running = false
  #loops = []
  #sent = 0

  constructor (url, { connections = 32, slowShare = 0.25, slow = 0.2, timeout = 5000, errorPause = 10 } = {}) {
    const { hostname, port } = new URL(url)
    this.target = { host: hostname, port: Number(port) }
    this.options = { connections, slowShare, slow, timeout, errorPause }
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  }

  get count () { return this.outcomes.count }

  start () {
    this.#running = true
    this.startedAt = now()
    for (let c = 0; c < this.options.connections; c++) this.#loops.push(this.#loop())
    return this
  }

  async stop () {
    this.#running = false
    await Promise.all(this.#loops)
    this.stoppedAt = now()
    this.agent.destroy()
    return this.outcomes
  }

  async #loop () {
    const { slowShare, slow, errorPause } = this.options
    while (this.#running) {
      const n = this.#sent++
      const isSlow = Math.floor((n + 1) * slowShare) > Math.floor(n * slowShare)
      const ok = await this.#one(`/?sleep=${isSlow ? slow : 0}`)
      if (!ok && errorPause > 0) await sleep(errorPause)
    }
  }

  #one (path) {
    return new Promise((resolve) => {
      const start = now()
      let settled = false
      const finish = (status, pid, kind, version) => {
        if (settled) return
        settled = true
        this.outcomes.push(start, now() - start, pid, status, kind, version)
        if (kind !== undefined) this.failed++
        else if (status < 200 || status > 299) this.non2xx++
        resolve(kind === undefined)
      }
      const req = http.request({ ...this.target, path, agent: this.agent, timeout: this.options.timeout }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => { body += chunk })
        res.on('end', () => {
          const { pid, version } = parseBody(body)
          finish(res.statusCode, pid, undefined, version)
        })
        res.on('error', (err) => finish(0, 0, kindOf(err)))
      })
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
      req.on('error', (err) => finish(0, 0, kindOf(err)))
      req.end()
    })
  }
}

/** One GET on a fresh connection: `{ status, pid, version, end }` or `{ error, end }`, never thrown. */
export function get (url, timeout = 2000) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, ...parseBody(body), end: now() }))
      res.on('error', (err) => resolve({ error: kindOf(err), end: now() }))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    req.on('error', (err) => resolve({ error: kindOf(err), end: now() }))
  })
}

/** Polls `url` until a 2xx answer comes from a pid other than `notPid`; resolves with it, or undefined after `ms`. */
export async function firstAnswer (url, { notPid, ms = 20_000, pause = 2 } = {}) {
  const deadline = now() + ms
  while (now() < deadline) {
    const r = await get(url)
    if (r.status >= 200 && r.status <= 299 && r.pid !== notPid) return r
    await sleep(pause)
  }
  return undefined
}

/**
 * Like {@link firstAnswer}, but a GET that hangs does not hold the loop up: whenever no GET is younger than
 * `stall` ms (and fewer than `most` are out), another starts, `pause` ms after the last one ended. A GET
 * waiting in a listening socket's backlog is answered as soon as a server accepts it, so the first answer
 * is timed as closely as by one GET at a time; but a connection the server side lost (PM2's cluster primary
 * hands it to the worker that just died) no longer stands for the whole wait. Each GET gives up after
 * `timeout`. Resolves with the first 2xx from a pid other than `notPid` (undefined after `ms`), with
 * `tries`, the failures by kind so far, and `hung`: a promise of how many GETs ended in a timeout, once the
 * ones still out have ended.
 */
export function firstNewAnswer (url, { notPid, ms = 20_000, pause = 2, stall = 50, most = 8, timeout = 5000 } = {}) {
  // One pid, or several: with 2 workers, the one that serves on is not new either.
  const old = Array.isArray(notPid) ? notPid : [notPid]
  return new Promise((resolve) => {
    const deadline = now() + ms
    const out = new Set()
    const failed = {}
    let tries = 0
    let timeouts = 0
    let lastEnd = -Infinity
    let done = false
    const ended = []
    const finish = (answer) => {
      done = true
      clearInterval(ticker)
      const hung = Promise.all(ended).then(() => timeouts)
      resolve(answer === undefined ? undefined : { ...answer, tries, failed: { ...failed }, hung })
    }
    const tick = () => {
      if (done) return
      const t = now()
      if (t > deadline) { finish(undefined); return }
      if (out.size >= most || t - lastEnd < pause) return
      for (const o of out) if (t - o.at < stall) return
      const one = { at: t }
      out.add(one)
      tries++
      ended.push(get(url, timeout).then((r) => {
        out.delete(one)
        lastEnd = now()
        if (r.error === 'timeout') timeouts++
        if (done) return
        if (r.status >= 200 && r.status <= 299 && !old.includes(r.pid)) { finish(r); return }
        const kind = r.error ?? (r.pid === notPid ? 'old pid' : `status ${r.status}`)
        failed[kind] = (failed[kind] ?? 0) + 1
      }))
    }
    const ticker = setInterval(tick, 1)
    tick()
  })
}
