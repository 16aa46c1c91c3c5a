import http from 'node:http'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import * as client from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { reloadMetrics, type MetricsRegistry } from '../src/metrics.js'
import { reloader } from '../src/generation/reloader.js'
import { ReloadError } from '../src/errors.js'

interface Sample { value?: string, labels?: Record<string, string> }
interface Family { name: string, help: string, type: string, metrics: Sample[] }
// The library ships no types; its default export is the parser.
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

async function scrape (registry: client.Registry): Promise<Map<string, Family>> {
  return new Map(parse(await registry.metrics()).map((family) => [family.name, family]))
}

function value (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  return sample === undefined ? undefined : Number(sample.value)
}

function thrown (fn: () => unknown): ReloadError {
  try { fn() } catch (err) { return err as ReloadError }
  throw new Error('expected a throw')
}

const names = ['reload_generation', 'reload_state', 'reload_requests_in_flight', 'reload_connections', 'reload_requests_total',
  'reload_handovers_total', 'reload_handover_duration_seconds', 'reload_requests_cut_total']

// In-process: no signal handlers and no exit, so the test worker lives on. One reloader per process, so the
// tests follow its life: starting, then ready once the server listens.
const r = reloader({ signal: false, shutdownSignals: false, exit: false, logger: false })
let release: () => void = () => {}
const server = http.createServer((req, res) => {
  if (req.url === '/slow') release = () => res.end('slow')
  else res.end('ok')
})
afterAll(() => { r.detach(); server.close() })

describe('reloadMetrics', () => {
  it('registers this generation, its requests and its start; the uninstaller removes them', async () => {
    const registry = new client.Registry()
    const before = r.listenerCount('upgrade')
    const uninstall = reloadMetrics(registry)
    let families = await scrape(registry)
    expect([...families.keys()].sort()).toEqual([...names].sort())
    expect(families.get('reload_handovers_total')?.type).toBe('COUNTER')
    expect(value(families, 'reload_generation')).toBe(1)
    expect(value(families, 'reload_state', { state: 'starting' })).toBe(1)
    expect(value(families, 'reload_state', { state: 'ready' })).toBe(0)
    for (const result of ['ok', 'failed', 'rolled_back']) expect(value(families, 'reload_handovers_total', { result })).toBe(0)

    const ready = once(r, 'ready')
    r.listen(server, 0, '127.0.0.1')
    await ready
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    families = await scrape(registry)
    expect(value(families, 'reload_state', { state: 'ready' })).toBe(1)
    const start = value(families, 'reload_generation_start_seconds')
    expect(start).toBeGreaterThan(0)
    expect(start).toBeLessThan(process.uptime())

    const served = value(families, 'reload_requests_total') as number
    for (let i = 0; i < 3; i++) await fetch(url)
    const slow = fetch(`${url}/slow`)
    await new Promise<void>((resolve) => server.once('request', () => setImmediate(resolve)))
    families = await scrape(registry)
    expect(value(families, 'reload_requests_total')).toBe(served + 4)
    expect(value(families, 'reload_requests_in_flight')).toBe(1)
    expect(value(families, 'reload_connections')).toBeGreaterThanOrEqual(1)
    release()
    expect(await (await slow).text()).toBe('slow')

    uninstall()
    expect(await registry.metrics()).toBe('\n')
    expect(r.listenerCount('upgrade')).toBe(before)
    uninstall()
  })

  it('counts the handovers this process started by result, with their duration, and the requests cut', async () => {
    const registry = new client.Registry()
    const uninstall = reloadMetrics(registry)
    r.emit('upgradeStart', { generation: 2 })
    r.emit('upgradeFailed', new ReloadError('ERR_RELOAD_CHILD_EXITED', 'new generation exited'))
    r.emit('upgradeStart', { generation: 2 })
    r.emit('upgrade', { pid: 1, generation: 2, ms: 5 })
    r.emit('rollback', { pid: 1, code: 1, signal: null, generation: 2 })
    r.emit('exit', { code: 1, cut: { requests: 2, connections: 1 } })
    const families = await scrape(registry)
    expect(value(families, 'reload_handovers_total', { result: 'ok' })).toBe(1)
    expect(value(families, 'reload_handovers_total', { result: 'failed' })).toBe(1)
    expect(value(families, 'reload_handovers_total', { result: 'rolled_back' })).toBe(1)
    expect(families.get('reload_handover_duration_seconds')?.type).toBe('HISTOGRAM')
    // The parser folds a labelled histogram into one sample: its series are read from prom-client itself.
    const durations = (await registry.getMetricsAsJSON()).find((m) => m.name === 'reload_handover_duration_seconds')
    const count = (result: string): number | undefined => durations?.values.find((v) => (v as { metricName?: string }).metricName === 'reload_handover_duration_seconds_count' && v.labels.result === result)?.value
    expect([count('ok'), count('failed')]).toEqual([1, 1])
    expect(value(families, 'reload_requests_cut_total')).toBe(2)
    // Installed after ready: the start of this generation is not known, so it is left out.
    expect(families.has('reload_generation_start_seconds')).toBe(false)
    uninstall()
  })

  it('refuses a second call on the same registry, and leaves it as it was', async () => {
    const registry = new client.Registry()
    const uninstall = reloadMetrics(registry)
    const text = await registry.metrics()
    const err = thrown(() => reloadMetrics(registry))
    expect(err).toBeInstanceOf(ReloadError)
    expect(err.code).toBe('ERR_RELOAD_INVALID_OPTION')
    expect(err.message).toMatch(/^this registry already has reload_generation, .*reload_requests_cut_total: reloadMetrics\(\) was called on it before/)
    expect(await registry.metrics()).toBe(text)
    // Another registry is another scrape: it gets its own.
    const other = new client.Registry()
    const second = reloadMetrics(other)
    expect(await other.metrics()).toContain('reload_generation 1')
    second()
    uninstall()
  })

  it('defaults to the global register of the prom-client the app loaded', async () => {
    const uninstall = reloadMetrics()
    expect(client.register.getSingleMetric('reload_generation')).toBeDefined()
    uninstall()
    expect(client.register.getSingleMetric('reload_generation')).toBeUndefined()
  })

  it('uninstalls from an OpenMetrics registry, which renames its counters when read', async () => {
    const registry = new client.Registry<client.OpenMetricsContentType>()
    registry.setContentType(client.openMetricsContentType)
    const uninstall = reloadMetrics(registry)
    expect(await registry.metrics()).toMatch(/^reload_handovers_total\{result="ok"\} 0$/m)
    uninstall()
    expect(registry.getMetricsAsArray()).toEqual([])
  })

  it('refuses what is not a registry, and a registry no loaded prom-client made unless its client is given', () => {
    for (const bad of [{}, 'register', 42, null]) {
      const err = thrown(() => reloadMetrics(bad as unknown as MetricsRegistry))
      expect(err.code).toBe('ERR_RELOAD_INVALID_OPTION')
      expect(err.message).toMatch(/^reloadMetrics\(\) takes a prom-client Registry \(or nothing, for prom-client's global register\), instead got /)
    }
    // A registry from a prom-client outside Node's module cache (a bundled copy) looks like this one.
    class Bundled {
      registerMetric (): void {}
      getSingleMetric (): undefined { return undefined }
      removeSingleMetric (): void {}
    }
    expect(thrown(() => reloadMetrics(new Bundled())).message).toMatch(/^no prom-client loaded in this process made this registry .*reloadMetrics\(register, \{ client \}\)/)
    expect(thrown(() => reloadMetrics(new Bundled(), { client })).message).toBe(
      'this registry was not made by the prom-client given as the client option: pass the prom-client module the registry comes from')
    expect(thrown(() => reloadMetrics(new client.Registry(), { client: {} as typeof client })).code).toBe('ERR_RELOAD_INVALID_OPTION')
    expect(thrown(() => reloadMetrics(undefined, 'client' as never)).message).toBe('reloadMetrics() takes options as an object, instead got string')
    const registry = new client.Registry()
    reloadMetrics(registry, { client })()
    expect(registry.getMetricsAsArray()).toEqual([])
  })
})
