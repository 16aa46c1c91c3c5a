import http from 'node:http'

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

/** GET `url` once; resolves with the outcome whatever happens, within `timeout`. */
export function request (url: string, { agent, timeout = 10_000, headers = {} as Record<string, string> } = {} as { agent?: http.Agent | false, timeout?: number, headers?: Record<string, string> }): Promise<Outcome> {
  const start = Date.now()
  return new Promise((resolve) => {
    let settled = false
    const done = (outcome: Omit<Outcome, 'start' | 'ms'>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ start, ms: Date.now() - start, ...outcome })
    }
    const req = http.get(url, { agent: agent ?? false, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        const pid = /ospid:(\d+)/.exec(body)?.[1]
        done({ status: res.statusCode, body, headers: res.headers, ...(pid !== undefined && { pid: Number(pid) }) })
      })
      res.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }))
    const timer = setTimeout(() => { req.destroy(); done({ error: 'TIMEOUT' }) }, timeout)
  })
}

/** GET `url` and return the outcome, throwing when it failed. */
export async function get (url: string, options?: Parameters<typeof request>[1]): Promise<Outcome & { status: number, body: string }> {
  const outcome = await request(url, options)
  if (outcome.error !== undefined) throw new Error(`GET ${url} failed: ${outcome.error}`)
  return outcome as Outcome & { status: number, body: string }
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

  constructor (readonly url: string, readonly options: { connections?: number, slowEvery?: number, slow?: number } = {}) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: options.connections ?? 8 })
  }

  start (): this {
    this.#running = true
    const { connections = 8, slowEvery = 5, slow = 0.05 } = this.options
    for (let c = 0; c < connections; c++) {
      this.#loops.push((async () => {
        for (let i = c; this.#running; i++) {
          const sleep = i % slowEvery === 0 ? slow : 0
          this.outcomes.push(await request(`${this.url}/?sleep=${sleep}`, { agent: this.#agent }))
        }
      })())
    }
    return this
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
