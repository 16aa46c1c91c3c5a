import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import type * as Prom from 'prom-client'
import { ReloadError } from './errors.js'
import { reloader, type ReloadState } from './generation/reloader.js'
import { served } from './drain/served.js'

/**
 * The part of a prom-client `Registry` that {@link reloadMetrics} uses. Declared here rather than taken from
 * prom-client's types, so that a registry of any prom-client from 14 on fits, and an app without prom-client
 * still compiles against this package's types.
 */
export interface MetricsRegistry {
  registerMetric: (metric: never) => void
  getSingleMetric: (name: string) => unknown
  removeSingleMetric: (name: string) => void
}

/** The prom-client module (`import * as client from 'prom-client'`): the classes the figures are made of. */
export interface MetricsClient {
  Registry: abstract new (...args: never[]) => unknown
  Counter: new (configuration: never) => unknown
  Gauge: new (configuration: never) => unknown
  Histogram: new (configuration: never) => unknown
  register?: MetricsRegistry
}

export interface ReloadMetricsOptions {
  /**
   * The prom-client that made the registry. Needed only where Node's module cache does not hold it: a
   * bundled prom-client, or a test runner with its own module registry.
   */
  client?: MetricsClient
}

type Client = Pick<typeof Prom, 'Registry' | 'Counter' | 'Gauge' | 'Histogram' | 'register'>

const states: readonly ReloadState[] = ['starting', 'ready', 'upgrading', 'draining', 'stopped']
// From a fast local handover to the default readyTimeout (60 s) and past it.
const buckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/**
 * Registers the figures of this process's {@link reloader} in `register` (default: prom-client's global
 * `register`), under the `reload_` names of `reload run --metrics`. Gauges are read when `register` is
 * scraped, so nothing runs while nobody scrapes. Returns the uninstaller (idempotent).
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when `register` is not a prom-client registry, already
 * has a metric of one of these names (a second call on it), or prom-client cannot be found.
 */
export function reloadMetrics (register?: MetricsRegistry, options: ReloadMetricsOptions = {}): () => void {
  if (options === null || typeof options !== 'object') throw invalid(`reloadMetrics() takes options as an object, instead got ${describe(options)}`)
  const { client, registry } = resolve(register, options.client)
  const r = reloader()
  // Made outside the registry and added at the end, so that a refusal leaves the registry as it was. Kept by
  // the names they were registered under: an OpenMetrics registry renames its counters when it is read.
  const mine = new Map<string, Prom.Metric>()
  const keep = <M extends Prom.Metric>(name: string, metric: M): M => { mine.set(name, metric); return metric }
  const gauge = <T extends string>(config: Prom.GaugeConfiguration<T>): Prom.Gauge<T> => keep(config.name, new client.Gauge({ ...config, registers: [] }))
  const counter = <T extends string>(config: Prom.CounterConfiguration<T>): Prom.Counter<T> => keep(config.name, new client.Counter({ ...config, registers: [] }))

  gauge({
    name: 'reload_generation',
    help: 'Generation of this process: 1 when started by hand, n + 1 when generation n started it',
    collect () { this.set(r.generation) }
  })
  gauge({
    name: 'reload_state',
    help: 'State of this generation: 1 for the current one (starting, ready, upgrading, draining, stopped), 0 for the others',
    labelNames: ['state'],
    collect () { for (const s of states) this.set({ state: s }, s === r.state ? 1 : 0) }
  })
  gauge({
    name: 'reload_requests_in_flight',
    help: 'Requests in flight on the servers reload tracks in this process',
    collect () { this.set(r.requests) }
  })
  gauge({
    name: 'reload_connections',
    help: 'Open connections to the servers reload tracks in this process',
    collect () { this.set(r.connections) }
  })
  counter({
    name: 'reload_requests_total',
    help: 'Requests this process has taken (HTTP/1 requests and HTTP/2 streams)',
    collect () {
      this.reset()
      this.inc(served.count)
    }
  })
  const handovers = counter({
    name: 'reload_handovers_total',
    help: 'Handovers this process started, by result: ok (the next generation became ready), failed, rolled_back (it died during the drain after ok)',
    labelNames: ['result']
  })
  const durations = keep('reload_handover_duration_seconds', new client.Histogram({
    name: 'reload_handover_duration_seconds',
    help: 'Seconds from the start of a handover this process started to the next generation ready (ok) or its failure (failed)',
    labelNames: ['result'],
    buckets,
    registers: []
  }))
  const cutTotal = counter({
    name: 'reload_requests_cut_total',
    help: 'Requests cut at the end of a drain of this process (seen only when the process outlives its drain: exit: false)'
  })
  // An unset gauge reads 0, a start no process makes: this one joins the registry once the value is known.
  const startName = 'reload_generation_start_seconds'
  const start = gauge({ name: startName, help: 'Seconds this process took from its start to ready' })
  const always = [...mine].filter(([name]) => name !== startName)

  const taken = [...mine.keys()].filter((name) => registry.getSingleMetric(name) !== undefined)
  if (taken.length > 0) {
    throw invalid(`this registry already has ${taken.join(', ')}: reloadMetrics() was called on it before (call the uninstaller it returned first), ` +
      'or another metric has that name')
  }
  for (const result of ['ok', 'failed', 'rolled_back']) handovers.inc({ result }, 0)
  for (const result of ['ok', 'failed']) durations.zero({ result })
  for (const [, metric] of always) registry.registerMetric(metric)

  let installed = true
  let started: number | undefined
  const since = (): number | undefined => started === undefined ? undefined : (performance.now() - started) / 1000
  const listeners = {
    upgradeStart: () => { started = performance.now() },
    upgrade: (result: { ms: number }) => {
      handovers.inc({ result: 'ok' })
      durations.observe({ result: 'ok' }, since() ?? result.ms / 1000)
      started = undefined
    },
    upgradeFailed: () => {
      handovers.inc({ result: 'failed' })
      // Installed during this handover: its start is unknown, so no duration rather than a wrong one.
      const seconds = since()
      if (seconds !== undefined) durations.observe({ result: 'failed' }, seconds)
      started = undefined
    },
    rollback: () => { handovers.inc({ result: 'rolled_back' }) },
    exit: ({ cut }: { cut: { requests: number } }) => { cutTotal.inc(cut.requests) },
    ready: () => {
      start.set(process.uptime())
      // Uninstalled meanwhile, or the name taken since: the other figures must not fail a ready.
      if (installed && registry.getSingleMetric(startName) === undefined) registry.registerMetric(start)
    }
  }
  r.on('upgradeStart', listeners.upgradeStart)
  r.on('upgrade', listeners.upgrade)
  r.on('upgradeFailed', listeners.upgradeFailed)
  r.on('rollback', listeners.rollback)
  r.on('exit', listeners.exit)
  // Called after ready: the moment is gone, so this figure stays out rather than wrong.
  if (r.state === 'starting') r.once('ready', listeners.ready)

  return () => {
    if (!installed) return
    installed = false
    r.off('upgradeStart', listeners.upgradeStart)
    r.off('upgrade', listeners.upgrade)
    r.off('upgradeFailed', listeners.upgradeFailed)
    r.off('rollback', listeners.rollback)
    r.off('exit', listeners.exit)
    r.off('ready', listeners.ready)
    // Only what is still ours: the app may have cleared the registry and registered its own since.
    for (const [name, metric] of mine) if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name)
  }
}

/**
 * The registry and the prom-client that made it. The figures must be made of the app's own prom-client
 * classes (two copies do not share a registry's expectations), and which copy that is cannot be known from
 * where this package is installed: a linked or hoisted workspace resolves another. So the copy is found by
 * identity: the loaded prom-client whose `Registry` made `register`.
 */
function resolve (register: MetricsRegistry | undefined, given: MetricsClient | undefined): { client: Client, registry: Prom.Registry } {
  if (register !== undefined && !isRegistry(register)) {
    throw invalid(`reloadMetrics() takes a prom-client Registry (or nothing, for prom-client's global register), instead got ${describe(register)}`)
  }
  if (given !== undefined) {
    if (!isClient(given)) throw invalid(`the client option is the prom-client module (import * as client from 'prom-client'), instead got ${describe(given)}`)
    const registry = register ?? given.register
    if (registry === undefined || !isRegistry(registry)) throw invalid('the client option has no global register: pass the registry too, reloadMetrics(register, { client })')
    if (!(registry instanceof given.Registry)) throw invalid('this registry was not made by the prom-client given as the client option: pass the prom-client module the registry comes from')
    return { client: given as unknown as Client, registry: registry as unknown as Prom.Registry }
  }
  const copies = loadedCopies()
  if (register !== undefined) {
    const client = copies.find((copy) => register instanceof copy.Registry)
    if (client === undefined) {
      throw invalid('no prom-client loaded in this process made this registry (a bundled prom-client, or a test runner with its own modules?): ' +
        "pass the prom-client module it comes from: reloadMetrics(register, { client }), with import * as client from 'prom-client'")
    }
    return { client, registry: register as unknown as Prom.Registry }
  }
  if (copies.length > 1) {
    throw invalid(`${copies.length} copies of prom-client are loaded in this process, each with its own global register: pass the one your /metrics serves, reloadMetrics(register)`)
  }
  // Nothing loaded yet: the copy this package resolves is the app's, since prom-client is its peer dependency.
  const client = copies[0] ?? peer()
  return { client, registry: client.register }
}

// Each prom-client the app loaded, found by what it exports rather than by where it lies (ESM imports of
// it pass through the same cache).
function loadedCopies (): Client[] {
  const cache = createRequire(import.meta.url).cache
  const copies = new Set<Client>()
  for (const [path, module] of Object.entries(cache)) {
    if (!/[\\/]prom-client[\\/]/.test(path)) continue
    const exports = module?.exports as unknown
    if (isClient(exports)) copies.add(exports as unknown as Client)
  }
  return [...copies]
}

function peer (): Client {
  try {
    return createRequire(import.meta.url)('prom-client') as Client
  } catch (err) {
    throw new ReloadError('ERR_RELOAD_INVALID_OPTION', 'reloadMetrics() needs prom-client (14 or later), which could not be loaded: install it beside @reload/core (npm install prom-client)',
      { cause: err })
  }
}

function isRegistry (value: unknown): value is MetricsRegistry {
  const r = value as Partial<Record<keyof MetricsRegistry, unknown>> | null
  return typeof r === 'object' && r !== null && typeof r.registerMetric === 'function' &&
    typeof r.getSingleMetric === 'function' && typeof r.removeSingleMetric === 'function'
}

function isClient (value: unknown): value is MetricsClient {
  const c = value as Partial<Record<keyof MetricsClient, unknown>> | null
  return (typeof c === 'object' || typeof c === 'function') && c !== null && typeof c.Registry === 'function' &&
    typeof c.Counter === 'function' && typeof c.Gauge === 'function' && typeof c.Histogram === 'function'
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return value.constructor?.name !== undefined ? `an instance of ${value.constructor.name}` : 'an object'
  return typeof value
}

function invalid (message: string): ReloadError {
  return new ReloadError('ERR_RELOAD_INVALID_OPTION', message)
}
