import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from 'prom-client'
import type { Logger } from '@reload/core/keeper'
import { CliError } from './errors.js'
import type { Address } from './args.js'
import type { Keeper } from './keeper.js'
import type { KeeperEvents, KeeperStatus, WorkerStatus } from './keeper-status.js'
import type { DrainEnd } from './worker.js'

/** What the metrics read of the keeper: its events as they happen, its status at scrape time. */
export type Observed = Pick<Keeper, 'events' | 'status'>

/** The keeper's metrics endpoint, once it listens. */
export interface MetricsServer {
  /** Where to scrape: `http://127.0.0.1:9100/metrics`. */
  url: string
  close: () => void
}

// A roll is one worker start and one drain hand-over per slot: a fraction of a second for a small app, up to
// the ready timeout (60 s by default) and past it with many workers.
const ROLL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120]
// An idle worker drains in milliseconds; one with long requests takes up to the drain timeout (30 s by
// default), and a killed one 5 s more.
const DRAIN_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

const RESULTS = ['ok', 'failed'] as const
const ENDS: readonly DrainEnd[] = ['drained', 'cut', 'killed', 'exited']
const REASONS: ReadonlyArray<KeeperEvents['restart'][0]['reason']> = ['crash', 'stopped', 'unresponsive', 'memory']
const STATES = ['starting', 'ready', 'draining', 'backoff'] as const

// Prometheus keeps one connection per target; these bound what a misbehaving client can hold of the keeper's fds.
const MAX_CONNECTIONS = 32
const REQUEST_TIMEOUT = 10_000

/**
 * One `status()` for all the gauges of a scrape: prom-client asks each metric in the same turn, and they share
 * the answer under way (asking each worker over its link once, not once per metric).
 */
function sharedStatus (keeper: Observed): () => Promise<KeeperStatus> {
  let pending: Promise<KeeperStatus> | undefined
  return () => {
    pending ??= keeper.status().finally(() => { pending = undefined })
    return pending
  }
}

type Labels = { slot: string, generation: string }

/**
 * The workers by slot and generation. A slot has two workers of one generation only for a moment (one
 * replaced as unresponsive or over memory, or one that stopped on its own, while its replacement starts):
 * then their gauges add up, and the counters and uptime are the older one's, so they do not go back.
 */
function byWorker (workers: WorkerStatus[]): Array<{ labels: Labels, all: WorkerStatus[], oldest: WorkerStatus }> {
  const groups = new Map<string, WorkerStatus[]>()
  for (const w of workers) {
    const key = `${w.slot}/${w.generation}`
    groups.set(key, [...(groups.get(key) ?? []), w])
  }
  return [...groups.values()].map((all) => {
    const oldest = all.reduce((a, b) => (b.uptime > a.uptime ? b : a))
    return { labels: { slot: String(oldest.slot), generation: String(oldest.generation) }, all, oldest }
  })
}

function sum (values: Array<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined)
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0)
}

/** The keeper's metrics in a registry of their own: counters fed by its events, gauges read at scrape time. */
export function keeperRegistry (keeper: Observed): Registry {
  const register = new Registry()
  const registers = [register]
  const status = sharedStatus(keeper)
  // prom-client puts a metric given no `registers` in its global registry, which is anyone's in this process.
  const counter = <T extends string>(config: CounterConfiguration<T>): Counter<T> => new Counter({ ...config, registers })
  const gauge = <T extends string>(config: GaugeConfiguration<T>): Gauge<T> => new Gauge({ ...config, registers })
  const histogram = <T extends string>(config: HistogramConfiguration<T>): Histogram<T> => new Histogram({ ...config, registers })

  const rolls = counter({ name: 'reload_rolls_total', help: 'Rolls (reload reload, SIGHUP) by result: ok, or failed (a new worker did not start; the previous code serves on).', labelNames: ['result'] })
  // Rolls that put new code in service only: a failed roll's time is that of the failure (often the ready
  // timeout), and would make the deploys look slower than they are.
  const rollSeconds = histogram({ name: 'reload_roll_duration_seconds', help: 'How long a successful roll took, from its start until every worker of the new generation served.', buckets: ROLL_BUCKETS })
  const drains = counter({ name: 'reload_drains_total', help: 'Workers that ended after being told to stop (at a roll, a replacement or shutdown), by how: drained, cut (requests cut at the drain timeout), killed, or exited (before draining, or with an error code).', labelNames: ['end'] })
  const drainSeconds = histogram({ name: 'reload_drain_duration_seconds', help: 'How long a worker took from being told to stop until it exited, however it ended.', buckets: DRAIN_BUCKETS })
  const cut = counter({ name: 'reload_requests_cut_total', help: 'Requests that draining workers still had at their drain timeout, and cut.' })
  const restarts = counter({ name: 'reload_worker_restarts_total', help: 'Workers started again outside a roll, by reason: crash (it exited), stopped (on its own), unresponsive (liveness timeout), memory (over --max-memory).', labelNames: ['reason'] })
  for (const result of RESULTS) rolls.inc({ result }, 0)
  for (const end of ENDS) drains.inc({ end }, 0)
  for (const reason of REASONS) restarts.inc({ reason }, 0)
  keeper.events.on('roll', (roll) => {
    rolls.inc({ result: roll.ok ? 'ok' : 'failed' })
    if (roll.ok) rollSeconds.observe(roll.ms / 1000)
  })
  keeper.events.on('drained', (drain) => {
    drains.inc({ end: drain.end })
    drainSeconds.observe(drain.ms / 1000)
    if (drain.cut > 0) cut.inc(drain.cut)
  })
  keeper.events.on('restart', ({ reason }) => { restarts.inc({ reason }) })

  gauge({
    name: 'reload_generation',
    help: 'The generation new workers start as: 1 at start, one more at each roll (a failed one too).',
    async collect () { this.set((await status()).generation) }
  })
  gauge({
    name: 'reload_workers',
    help: 'Workers by state: starting, ready (serving), draining; backoff counts slots waiting to start their worker again after crashes.',
    labelNames: ['state'],
    async collect () {
      const s = await status()
      for (const state of STATES) this.set({ state }, 0)
      for (const w of s.workers) this.inc({ state: w.state })
      for (const slot of s.waiting) if (slot.state === 'backoff') this.inc({ state: 'backoff' })
    }
  })

  gauge({
    name: 'reload_spare_resident_memory_bytes',
    help: 'Resident memory of the spare worker process the keeper keeps booted for restarts (0: none now, --no-spare, or one of an older keeper).',
    async collect () { this.set((await status()).spare?.rss ?? 0) }
  })

  // Labelled by slot, which an operator knows a worker by, and generation, so that every worker of a roll has a
  // series of its own (a slot has two workers while the new one takes over) and a counter starts with its
  // worker. Never the pid: every crash would make a new series.
  const labelNames = ['slot', 'generation']
  const workerGauge = (name: string, help: string, figure: (w: WorkerStatus) => number | undefined, of: 'sum' | 'oldest' = 'sum'): void => {
    gauge({
      name,
      help,
      labelNames,
      async collect () {
        const s = await status()
        this.reset()
        for (const { labels, all, oldest } of byWorker(s.workers)) {
          const value = of === 'sum' ? sum(all.map(figure)) : figure(oldest)
          if (value !== undefined) this.set(labels, value)
        }
      }
    })
  }
  const workerCounter = (name: string, help: string, figure: (w: WorkerStatus) => number | undefined): void => {
    counter({
      name,
      help,
      labelNames,
      async collect () {
        const s = await status()
        this.reset()
        for (const { labels, oldest } of byWorker(s.workers)) {
          const value = figure(oldest)
          if (value !== undefined) this.inc(labels, value)
        }
      }
    })
  }
  workerGauge('reload_worker_requests_in_flight', 'Requests a worker has taken and not yet answered.', (w) => w.requests)
  workerGauge('reload_worker_connections', 'Connections a worker holds open.', (w) => w.connections)
  workerGauge('reload_worker_resident_memory_bytes', 'A worker\'s resident memory (RSS), in bytes.', (w) => w.rss)
  workerGauge('reload_worker_heap_used_bytes', 'A worker\'s V8 heap in use, in bytes, as the worker says.', (w) => w.heap)
  workerGauge('reload_worker_uptime_seconds', 'Seconds since a worker started.', (w) => w.uptime / 1000, 'oldest')
  workerCounter('reload_worker_cpu_seconds_total', 'CPU time (user and system) a worker has used, in seconds.', (w) => w.cpu)
  workerCounter('reload_worker_requests_total', 'Requests a worker has taken since it started.', (w) => w.served)

  collectDefaultMetrics({ register })
  return register
}

function hostLabel (host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

function listenError (address: Extract<Address, { kind: 'tcp' }>, err: NodeJS.ErrnoException): CliError {
  const where = address.host === undefined ? `port ${address.port} (every address)` : `${hostLabel(address.host)}:${address.port}`
  const code = err.code ?? err.message
  const hint = err.code === 'EADDRINUSE'
    ? 'another process listens there (an old keeper still running, or the app itself?): stop it, or give --metrics another address'
    : err.code === 'EACCES'
      ? 'this user may not bind there (ports below 1024 need privileges): give --metrics another port'
      : err.code === 'EADDRNOTAVAIL'
        ? 'no network interface of this machine has that address: give --metrics one of its addresses (127.0.0.1 to scrape from this machine only)'
        : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
          ? 'that host name does not resolve: give --metrics an IP address or a name this machine resolves'
          : 'check the --metrics address'
  return new CliError('ERR_RELOAD_LISTEN', `cannot serve metrics on ${where} (${code}): ${hint}`, { cause: err })
}

function answer (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), ...headers })
  res.end(text)
}

/**
 * Serves the keeper's metrics at `http://ADDR/metrics`, on a socket of the keeper's own: the workers never see
 * these requests, and a scrape works while every worker is down. Only GET and HEAD of `/metrics` are answered.
 * @throws {ReloadError} `ERR_RELOAD_LISTEN` naming the address, when it cannot be bound.
 */
export async function serveMetrics (keeper: Observed, address: Extract<Address, { kind: 'tcp' }>, log: Logger): Promise<MetricsServer> {
  const register = keeperRegistry(keeper)
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') {
      answer(res, 404, 'not found: the metrics are at /metrics\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer(res, 405, `${req.method ?? 'this method'} is not allowed here: scrape /metrics with GET\n`, { Allow: 'GET, HEAD' })
      return
    }
    // A HEAD asks whether the endpoint is up: it does not ask the workers for their figures.
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Type': register.contentType })
      res.end()
      return
    }
    register.metrics().then((text) => {
      answer(res, 200, text, { 'Content-Type': register.contentType })
    }, (err: Error) => {
      log.warn({}, `metrics: a scrape failed: ${err.message}`)
      answer(res, 500, `the metrics could not be collected: ${err.message}\n`)
    })
  })
  server.maxConnections = MAX_CONNECTIONS
  server.requestTimeout = REQUEST_TIMEOUT
  server.headersTimeout = REQUEST_TIMEOUT
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => { reject(listenError(address, err)) }
    server.once('error', failed)
    // No host: every address, as `--listen PORT` does.
    server.listen({ port: address.port, ...(address.host !== undefined && { host: address.host }) }, () => {
      server.off('error', failed)
      resolve()
    })
  })
  server.on('error', (err) => log.warn({}, `metrics: ${err.message}`))
  // Never what keeps the keeper running: its workers do.
  server.unref()
  const bound = server.address() as AddressInfo
  const url = `http://${hostLabel(bound.address)}:${bound.port}/metrics`
  log.info({}, `metrics on ${url}`)
  return {
    url,
    close: () => {
      server.close()
      server.closeAllConnections()
    }
  }
}
