// Real clients of long-lived connections for the tests in this folder: an HTTP/2 client that opens a new
// session when its session is told to go away, a TCP proxy that delays what the server sends, a WebSocket
// client that records how it was closed, and an EventSource that follows the rules a browser's does.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import { once } from 'node:events'
import WebSocket from 'ws'
import type { Fixture } from '@reload/test-helpers'

const { NGHTTP2_REFUSED_STREAM } = http2.constants
let sessionIds = 0

/** The first GOAWAY of a graceful shutdown names the highest stream id there can be. */
export const SHUTDOWN_NOTICE_LAST_STREAM = 2 ** 31 - 1

/** One HTTP/2 stream's outcome; never thrown. */
export interface H2Outcome {
  path: string
  start: number
  ms: number
  status?: number
  body?: string
  /** The pid in an `ospid:<pid>` body. */
  pid?: number
  /** Why it failed for good: an error code, `rst:<code>`, `TIMEOUT`. */
  error?: string
  /** Times the server refused it unprocessed (REFUSED_STREAM) before it was sent again. */
  refused: number
  /** Each time it was refused: the session and stream id it had, and when. */
  refusedIds: Array<{ session: number, stream: number, at: number }>
  /** The id of the session that answered, or of the last one tried. */
  session: number
}

/** What a client session went through: when it opened, the GOAWAYs it got, how it ended. */
export interface SessionRecord {
  /** Unique in this test file. */
  id: number
  opened: number
  goaways: Array<{ at: number, code: number, last: number }>
  closed?: number
  error?: string
}

export interface H2ClientOptions {
  /** The test certificate, for `https:`. */
  ca?: string | Buffer
  timeout?: number
}

/**
 * One HTTP/2 client connection at a time, as a browser keeps one per origin: once its session is told
 * to go away (or closed), the next stream opens a new session. A stream the server refuses unprocessed
 * (REFUSED_STREAM, which HTTP/2 says is safe to retry) is sent again and counted.
 */
export class H2Client {
  readonly sessions: SessionRecord[] = []
  #current: { session: http2.ClientHttp2Session, id: number } | undefined
  readonly #all = new Set<http2.ClientHttp2Session>()

  constructor (readonly url: string, readonly options: H2ClientOptions = {}) {}

  /** The session streams go on now: the open one, or a new one if it was told to go away. */
  session (): { session: http2.ClientHttp2Session, id: number } {
    const current = this.#current
    if (current !== undefined && !current.session.closed && !current.session.destroyed) return current
    const session = http2.connect(this.url, this.options.ca !== undefined ? { ca: this.options.ca } : {})
    const record: SessionRecord = { id: ++sessionIds, opened: Date.now(), goaways: [] }
    this.sessions.push(record)
    this.#all.add(session)
    session.on('goaway', (code: number, last: number) => { record.goaways.push({ at: Date.now(), code, last }) })
    session.on('error', (err: NodeJS.ErrnoException) => { record.error ??= err.code ?? err.message })
    session.on('close', () => { record.closed = Date.now(); this.#all.delete(session) })
    this.#current = { session, id: record.id }
    return this.#current
  }

  /** Sends GET `path` (again while refused unprocessed, at most 5 times); resolves with the outcome. */
  async get (path: string, { timeout = this.options.timeout ?? 10_000 } = {}): Promise<H2Outcome> {
    const start = Date.now()
    const refusedIds: H2Outcome['refusedIds'] = []
    for (;;) {
      const { session, id } = this.session()
      const attempt = await stream(session, path, timeout)
      if (attempt.refused && refusedIds.length < 5) {
        refusedIds.push({ session: id, stream: attempt.stream, at: Date.now() })
        continue
      }
      if (attempt.refused) return { path, start, ms: Date.now() - start, refused: refusedIds.length, refusedIds, session: id, error: 'REFUSED_STREAM' }
      return { path, start, ms: Date.now() - start, refused: refusedIds.length, refusedIds, session: id, ...attempt.outcome }
    }
  }

  /** Resolves once the server has processed every frame this client sent so far (a PING round trip). */
  async ping (): Promise<void> {
    const { session } = this.session()
    // A PING asked for before the connection is up is cancelled at once.
    if (session.connecting) await once(session, 'connect')
    await new Promise<void>((resolve, reject) => {
      session.ping((err) => { if (err === null) resolve(); else reject(err) })
    })
  }

  close (): void {
    for (const session of this.#all) session.destroy()
    this.#all.clear()
  }
}

type Attempt = { refused: true, stream: number } | { refused: false, outcome: Pick<H2Outcome, 'status' | 'body' | 'pid' | 'error'> }

function stream (session: http2.ClientHttp2Session, path: string, timeout: number): Promise<Attempt> {
  return new Promise((resolve) => {
    let req: http2.ClientHttp2Stream
    try {
      req = session.request({ ':path': path })
    } catch (err) {
      resolve({ refused: false, outcome: { error: (err as NodeJS.ErrnoException).code ?? String(err) } })
      return
    }
    let status: number | undefined
    let body = ''
    let error: string | undefined
    let ended = false
    const timer = setTimeout(() => { error = 'TIMEOUT'; req.destroy() }, timeout)
    req.setEncoding('utf8')
    req.on('response', (headers) => { status = headers[':status'] })
    req.on('data', (chunk: string) => { body += chunk })
    req.on('end', () => { ended = true })
    req.on('error', (err: NodeJS.ErrnoException) => { error ??= err.code ?? err.message })
    req.on('close', () => {
      clearTimeout(timer)
      if (status === undefined && req.rstCode === NGHTTP2_REFUSED_STREAM) {
        resolve({ refused: true, stream: req.id ?? -1 })
        return
      }
      if (ended && error === undefined && status !== undefined) {
        const pid = /ospid:(\d+)/.exec(body)?.[1]
        resolve({ refused: false, outcome: { status, body, ...(pid !== undefined && { pid: Number(pid) }) } })
        return
      }
      resolve({ refused: false, outcome: { error: error ?? `rst:${req.rstCode}`, ...(status !== undefined && { status }) } })
    })
    req.end()
  })
}

/**
 * Why each refused stream was refused, if not for the right reason: a stream may be refused only once its
 * session got the first GOAWAY (the client's own nghttp2 refuses one it had not yet sent by then), and
 * only above the last stream the final GOAWAY names, if that came: never one the server processed.
 * Returns the faults (empty when every refusal is one of those) and how many refusals there were.
 */
export function badRefusals (sessions: SessionRecord[], outcomes: H2Outcome[]): { faults: string[], count: number } {
  const refusals = outcomes.flatMap((o) => o.refusedIds)
  const faults: string[] = []
  for (const refusal of refusals) {
    const session = sessions.find((s) => s.id === refusal.session)
    const notice = session?.goaways[0]
    const final = session?.goaways.find((g) => g.last < SHUTDOWN_NOTICE_LAST_STREAM)
    const fault = notice === undefined || notice.last !== SHUTDOWN_NOTICE_LAST_STREAM || notice.at > refusal.at
      ? 'refused before its session got the first GOAWAY'
      : final !== undefined && refusal.stream <= final.last ? `refused at or below the final GOAWAY's last stream ${final.last}` : undefined
    if (fault !== undefined) faults.push(`stream ${refusal.stream} of session ${refusal.session} ${fault}: ${JSON.stringify(session)}`)
  }
  return { faults, count: refusals.length }
}

/**
 * HTTP/2 load: `clients` connections (one `H2Client` each), each with `streams` loops sending one
 * stream after another, every `slowEvery`-th one slow (`?sleep=<slow>`). No failure is retried; a stream
 * refused unprocessed is, and counted.
 */
export class H2Load {
  readonly outcomes: H2Outcome[] = []
  readonly clients: H2Client[]
  #running = false
  #loops: Array<Promise<void>> = []
  readonly #waiters = new Set<() => void>()

  constructor (url: string, readonly options: { clients?: number, streams?: number, slowEvery?: number, slow?: number, ca?: string | Buffer } = {}) {
    this.clients = Array.from({ length: options.clients ?? 4 }, () => new H2Client(url, options.ca !== undefined ? { ca: options.ca } : {}))
  }

  start (): this {
    this.#running = true
    const { streams = 4, slowEvery = 5, slow = 0.2 } = this.options
    for (const client of this.clients) {
      for (let s = 0; s < streams; s++) {
        this.#loops.push((async () => {
          for (let i = s; this.#running; i++) {
            this.outcomes.push(await client.get(`/?sleep=${i % slowEvery === 0 ? slow : 0}`))
            for (const wake of this.#waiters) wake()
          }
        })())
      }
    }
    return this
  }

  /** Resolves once `condition(outcomes)` holds, checked at each response; throws after `timeout` ms. */
  async until (condition: (outcomes: H2Outcome[]) => boolean, what: string, timeout = 15_000): Promise<void> {
    const deadline = Date.now() + timeout
    while (!condition(this.outcomes)) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}; ${this.outcomes.length} streams, ${this.failures.length} failed`)
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.#waiters.delete(done); resolve() }
        const timer = setTimeout(done, left)
        this.#waiters.add(done)
      })
    }
  }

  /** Resolves once `pid` has answered `count` streams. */
  async servedBy (pid: number, count = 1): Promise<void> {
    await this.until((outcomes) => outcomes.filter((o) => o.pid === pid).length >= count, `${count} streams answered by pid ${pid}`)
  }

  async stop (): Promise<H2Outcome[]> {
    this.#running = false
    await Promise.all(this.#loops)
    for (const client of this.clients) client.close()
    return this.outcomes
  }

  get failures (): H2Outcome[] { return this.outcomes.filter((o) => o.error !== undefined || o.status !== 200) }
  get refused (): number { return this.outcomes.reduce((n, o) => n + o.refused, 0) }
  get sessions (): SessionRecord[] { return this.clients.flatMap((c) => c.sessions) }
}

/**
 * A TCP proxy on 127.0.0.1 that passes what the client sends at once and what the server sends `delay`
 * ms late, in order: a long way from server to client, so a GOAWAY is still on the wire while the client
 * goes on opening streams.
 */
export async function delayProxy (target: string, delay: number): Promise<{ url: string, close: () => void, lag: () => number }> {
  const { hostname, port } = new URL(target)
  const sockets = new Set<net.Socket>()
  // How much later than `delay` a timer fired at worst: a busy event loop makes the way longer still.
  let lag = 0
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname)
    sockets.add(client)
    sockets.add(upstream)
    const late = (fn: () => void): void => {
      const at = Date.now() + delay
      setTimeout(() => { lag = Math.max(lag, Date.now() - at); fn() }, delay)
    }
    client.on('data', (chunk) => { upstream.write(chunk) })
    client.on('end', () => { upstream.end() })
    client.on('error', () => { upstream.destroy() })
    client.on('close', () => { sockets.delete(client); upstream.destroy() })
    // Timers of one duration fire in the order they were set: the bytes keep their order.
    upstream.on('data', (chunk) => { late(() => { if (!client.destroyed) client.write(chunk) }) })
    upstream.on('end', () => { late(() => { client.end() }) })
    upstream.on('error', () => { late(() => { client.destroy() }) })
    upstream.on('close', () => { sockets.delete(upstream) })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    lag: () => lag,
    close: () => {
      server.close()
      for (const socket of sockets) socket.destroy()
    }
  }
}

/** A WebSocket client that asks the server's pid and records how its connection ended. */
export class WsClient {
  readonly ws: WebSocket
  readonly opened: Promise<void>
  /** The close code and reason, and when the connection ended; set once it did. */
  closed: { code: number, reason: string, at: number } | undefined
  readonly ended: Promise<{ code: number, reason: string, at: number }>
  #answers: Array<(pid: number) => void> = []

  constructor (url: string) {
    this.ws = new WebSocket(url)
    this.ws.on('error', () => {})
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('close', (code) => reject(new Error(`the WebSocket to ${url} closed (${code}) before it opened`)))
    })
    this.opened.catch(() => {})
    this.ws.on('message', (data) => {
      const pid = /^ospid:(\d+)$/.exec(String(data))?.[1]
      if (pid !== undefined) this.#answers.shift()?.(Number(pid))
    })
    this.ended = new Promise((resolve) => {
      this.ws.once('close', (code: number, reason: Buffer) => {
        this.closed = { code, reason: reason.toString(), at: Date.now() }
        resolve(this.closed)
      })
    })
  }

  /** Sends `pid` and resolves with the pid in the answer; rejects after `timeout` or if the socket closes. */
  async pid (timeout = 5000): Promise<number> {
    await this.opened
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to "pid" within 5 s')), timeout)
      this.#answers.push((pid) => { clearTimeout(timer); resolve(pid) })
      this.ws.send('pid')
      this.ended.then(() => { clearTimeout(timer); reject(new Error('the WebSocket closed before it answered "pid"')) }, () => {})
    })
  }

  close (): void { this.ws.terminate() }
}

/** One event an {@link EventSourceClient} dispatched. */
export interface ReceivedEvent { id: string, data: string, pid: number | undefined, at: number }

/** One connection of an {@link EventSourceClient}: what it sent and got. */
export interface StreamConnection {
  at: number
  lastEventId: string | undefined
  status?: number
  /** The pid of its first event. */
  pid?: number
  /** Why it ended: `end`, or an error code. */
  ended?: string
  /** Sent again once, at once, on a new connection: the pooled one it was sent on was reset before any answer. */
  resent?: number
}

/**
 * An EventSource as the HTML standard defines it, on Node's HTTP client: parses `id:`, `data:`, `event:`
 * and `retry:`, and when the stream ends reconnects after the reconnection time with `Last-Event-ID`.
 * Each client keeps one keep-alive socket, as a browser would reuse it.
 */
export class EventSourceClient {
  readonly events: ReceivedEvent[] = []
  readonly connections: StreamConnection[] = []
  /** The reconnection time: the last `retry:` received, 3 s until then (what browsers start with). */
  retry = 3000
  lastEventId: string | undefined
  #stopped = false
  #req: http.ClientRequest | undefined
  #timer: NodeJS.Timeout | undefined
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  readonly #waiters = new Set<() => void>()

  constructor (readonly url: string) {}

  start (): this {
    this.#connect()
    return this
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#req?.destroy()
    this.#agent.destroy()
  }

  /** Resolves once `condition()` holds, checked at each event; throws after `timeout` ms. */
  async until (condition: () => boolean, what: string, timeout = 10_000): Promise<void> {
    const deadline = Date.now() + timeout
    while (!condition()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}; ${this.events.length} events on ${this.connections.length} connections: ${JSON.stringify(this.connections)}`)
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.#waiters.delete(done); resolve() }
        const timer = setTimeout(done, left)
        this.#waiters.add(done)
      })
    }
  }

  #connect (): void {
    const connection: StreamConnection = { at: Date.now(), lastEventId: this.lastEventId }
    this.connections.push(connection)
    this.#request(connection)
  }

  #request (connection: StreamConnection): void {
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' }
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId
    let settled = false
    const over = (why: string): void => {
      if (settled) return
      settled = true
      connection.ended = why
      if (!this.#stopped) this.#timer = setTimeout(() => this.#connect(), this.retry)
      this.#wake()
    }
    const req = http.get(this.url, { agent: this.#agent, headers }, (res) => {
      connection.status = res.statusCode
      if (res.statusCode !== 200) { res.resume(); over(`status ${res.statusCode}`); return }
      let buffer = ''
      let data: string[] = []
      let id = this.lastEventId
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        const lines = buffer.split(/\r\n|\r|\n/)
        buffer = lines.pop() ?? ''
        for (const line of lines) {
          if (line === '') {
            // A blank line dispatches the event; the id holds even for an event with no data.
            this.lastEventId = id
            if (data.length > 0) {
              const text = data.join('\n')
              const pid = /ospid:(\d+)/.exec(text)?.[1]
              const event = { id: id ?? '', data: text, pid: pid === undefined ? undefined : Number(pid), at: Date.now() }
              this.events.push(event)
              connection.pid ??= event.pid
            }
            data = []
            this.#wake()
            continue
          }
          if (line.startsWith(':')) continue
          const colon = line.indexOf(':')
          const name = colon === -1 ? line : line.slice(0, colon)
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (name === 'data') data.push(value)
          else if (name === 'id' && !value.includes('\0')) id = value
          else if (name === 'retry' && /^\d+$/.test(value)) this.retry = Number(value)
        }
      })
      res.on('end', () => over('end'))
      res.on('error', (err: NodeJS.ErrnoException) => over(err.code ?? err.message))
      res.on('close', () => over('close'))
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The keep-alive race: the old pid ended the last stream and closed the connection, and a client whose
      // loop was late to read that close sent the reconnect on it. Browsers send a GET again when a reused
      // connection fails before any answer (RFC 9110, 9.2.2), as Node's own documentation advises
      // (request.reusedSocket); a reset of a new connection, or after an answer began, stays a failure.
      if (err.code === 'ECONNRESET' && req.reusedSocket && connection.status === undefined && connection.resent === undefined && !settled && !this.#stopped) {
        settled = true
        connection.resent = 1
        this.#request(connection)
        return
      }
      over(err.code ?? err.message)
    })
    this.#req = req
  }

  #wake (): void { for (const wake of this.#waiters) wake() }
}

/** When `fixture` printed the first line matching `pattern` (waiting for it). */
export async function lineAt (fixture: Fixture, pattern: RegExp, timeout = 15_000): Promise<number> {
  const { index } = await fixture.waitFor(pattern, { timeout })
  return (fixture.lines[index] as { at: number }).at
}

/** When generation `pid` began its drain, and when it said it exits (with code 0). */
export async function drainTimes (fixture: Fixture, pid: number, timeout = 15_000): Promise<{ draining: number, exiting: number, ms: number }> {
  const draining = await lineAt(fixture, new RegExp(`^reload\\[${pid}\\]: draining`), timeout)
  const exiting = await lineAt(fixture, new RegExp(`^reload\\[${pid}\\]: exiting \\(code=0\\)`), timeout)
  return { draining, exiting, ms: exiting - draining }
}

/** A child process the test started (curl): its output so far, and its end. */
export interface Command { child: ChildProcess, stdout: () => string, stderr: () => string, exit: Promise<number | null>, kill: () => void }

/** Starts `command args`; `kill()` it in `finally`. */
export function run (command: string, args: string[]): Command {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const exit = new Promise<number | null>((resolve) => { child.on('exit', (code) => resolve(code)) })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exit,
    kill: () => { if (child.exitCode === null && child.pid !== undefined) { try { process.kill(child.pid, 'SIGKILL') } catch {} } }
  }
}
