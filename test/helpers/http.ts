import http from 'node:http'
import https from 'node:https'

/** One request's outcome: a status and body, or the error code it failed with. Never thrown. */
export interface Outcome {
  start: number
  ms: number
  status?: number
  body?: string
  headers?: http.IncomingHttpHeaders
  /** `ECONNRESET`, `ECONNREFUSED`, `TIMEOUT`, … */
  error?: string
  /** The pid in an `ospid:<pid>` body. */
  pid?: number
}

export interface RequestOptions {
  /** An `https.Agent` for an `https:` URL. */
  agent?: http.Agent | false
  timeout?: number
  headers?: Record<string, string>
  /** Certificate authority for an `https:` URL (the test certificate). */
  ca?: string | Buffer
  /** A unix socket to send the request on; the URL then gives only the path. */
  socketPath?: string
}

/** GET `url` (http or https) once; resolves with the outcome whatever happens, within `timeout`. */
export function request (url: string, { agent, timeout = 10_000, headers = {}, ca, socketPath }: RequestOptions = {}): Promise<Outcome> {
  const start = Date.now()
  return new Promise((resolve) => {
    let settled = false
    const done = (outcome: Omit<Outcome, 'start' | 'ms'>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ start, ms: Date.now() - start, ...outcome })
    }
    const onResponse = (res: http.IncomingMessage): void => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        const pid = /ospid:(\d+)/.exec(body)?.[1]
        done({ status: res.statusCode, body, headers: res.headers, ...(pid !== undefined && { pid: Number(pid) }) })
      })
      res.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }))
    }
    const req = url.startsWith('https:')
      ? https.get(url, { agent: agent ?? false, headers, ...(ca !== undefined && { ca }) }, onResponse)
      : http.get(url, { agent: agent ?? false, headers, ...(socketPath !== undefined && { socketPath }) }, onResponse)
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }))
    const timer = setTimeout(() => { req.destroy(); done({ error: 'TIMEOUT' }) }, timeout)
  })
}

/** GET `url` and return the outcome, throwing when it failed. */
export async function get (url: string, options?: RequestOptions): Promise<Outcome & { status: number, body: string }> {
  const outcome = await request(url, options)
  if (outcome.error !== undefined) throw new Error(`GET ${url} failed: ${outcome.error}`)
  return outcome as Outcome & { status: number, body: string }
}

/** A keep-alive agent for `url`'s scheme: without one the client itself asks for `Connection: close`. */
export function keepAliveAgent (url: string, { ca, maxSockets }: { ca?: string | Buffer, maxSockets?: number } = {}): http.Agent {
  const options = { keepAlive: true, ...(maxSockets !== undefined && { maxSockets }) }
  return url.startsWith('https:') ? new https.Agent({ ...options, ...(ca !== undefined && { ca }) }) : new http.Agent(options)
}

/**
 * Keep-alive load: `connections` loops, each sending one request after another on a pooled socket,
 * every `slowEvery`-th one slow (`?sleep=slow`). No retries: every failure is recorded.
 */
export class Load {
  readonly outcomes: Outcome[] = []
  readonly #agent: http.Agent
  #running = false
  #loops: Array<Promise<void>> = []
  #waiters = new Set<() => void>()

  /** `url` is the server's (`http://localhost` with `socketPath` for a unix socket). */
  constructor (readonly url: string, readonly options: { connections?: number, slowEvery?: number, slow?: number, ca?: string | Buffer, socketPath?: string } = {}) {
    this.#agent = keepAliveAgent(url, { maxSockets: options.connections ?? 8, ...(options.ca !== undefined && { ca: options.ca }) })
  }

  start (): this {
    this.#running = true
    const { connections = 8, slowEvery = 5, slow = 0.05, ca, socketPath } = this.options
    for (let c = 0; c < connections; c++) {
      this.#loops.push((async () => {
        for (let i = c; this.#running; i++) {
          const sleep = i % slowEvery === 0 ? slow : 0
          this.outcomes.push(await request(`${this.url}/?sleep=${sleep}`, { agent: this.#agent, ...(ca !== undefined && { ca }), ...(socketPath !== undefined && { socketPath }) }))
          for (const wake of this.#waiters) wake()
        }
      })())
    }
    return this
  }

  /** Resolves once `condition(outcomes)` holds, checked at each response; throws after `timeout` ms. */
  async until (condition: (outcomes: Outcome[]) => boolean, what: string, timeout = 15_000): Promise<void> {
    const deadline = Date.now() + timeout
    while (!condition(this.outcomes)) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}; ${this.outcomes.length} responses, ${this.failures.length} failed`)
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.#waiters.delete(done); resolve() }
        const timer = setTimeout(done, left)
        this.#waiters.add(done)
      })
    }
  }

  /** Resolves once `pid` has answered `count` requests. */
  async servedBy (pid: number, count = 1): Promise<void> {
    await this.until((outcomes) => outcomes.filter((o) => o.pid === pid).length >= count, `${count} responses from pid ${pid}`)
  }

  async stop (): Promise<Outcome[]> {
    this.#running = false
    await Promise.all(this.#loops)
    this.#agent.destroy()
    return this.outcomes
  }

  get failures (): Outcome[] { return this.outcomes.filter((o) => o.error !== undefined || o.status !== 200) }
}

/** GET `path` over the unix socket at `socketPath`; resolves with the body. */
export function getUnix (socketPath: string, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path, agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
}
