import { EventEmitter } from 'node:events'
import { existsSync, readdirSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, get, Load, type Outcome, portBelowEphemeralRange, request, tempDir, until } from '@reload/test-helpers'
import { keeperRegistry, type Observed } from '../../packages/cli/src/metrics.js'
import type { KeeperEvents, KeeperStatus } from '../../packages/cli/src/keeper.js'
import { cli, plainApp, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

/** A metric family as parse-prometheus-text-format gives it (values are strings, as in the text). */
interface Family {
  name: string
  type: string
  metrics: Array<{ value?: string, labels?: Record<string, string>, buckets?: Record<string, string>, count?: string, sum?: string }>
}

// The library has no types of its own, and is CommonJS.
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

type Sample = Family['metrics'][number]

/** The samples of one family whose labels include `labels`; throws when the family is not in the scrape. */
function samples (families: Family[], name: string, labels: Record<string, string> = {}): Sample[] {
  const family = families.find((f) => f.name === name)
  if (family === undefined) throw new Error(`no ${name} in the scrape: ${families.map((f) => f.name).join(', ')}`)
  return family.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
}

/** The value of the one sample of `name` with `labels` (a histogram's count). */
function value (families: Family[], name: string, labels: Record<string, string> = {}): number {
  const found = samples(families, name, labels)
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} with ${JSON.stringify(labels)}`)
  const sample = found[0] as Sample
  return Number(sample.value ?? sample.count)
}

async function scrape (url: string): Promise<{ families: Family[], contentType: string | undefined }> {
  const { status, body, headers } = await get(url)
  expect(status).toBe(200)
  return { families: parsePrometheus(body), contentType: headers?.['content-type'] }
}

async function metricsUrl (fixture: Fixture): Promise<string> {
  const { match } = await fixture.waitFor(/metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/)
  return match[1] as string
}

function send (method: string, url: string): Promise<{ status: number | undefined, headers: http.IncomingHttpHeaders, body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 5 s`)))
    req.on('error', reject)
    req.end()
  })
}

const PER_WORKER = [
  'reload_worker_requests_in_flight',
  'reload_worker_connections',
  'reload_worker_resident_memory_bytes',
  'reload_worker_heap_used_bytes',
  'reload_worker_cpu_seconds_total',
  'reload_worker_requests_total',
  'reload_worker_uptime_seconds'
]

describe('reload run --metrics', () => {
  it('counters move as they should across 3 rolls and 2 crashes under keep-alive load; per-slot figures; histograms agree', async () => {
    const keeper = await startKeeper(['--workers', '2', '--metrics', '127.0.0.1:0'])
    const url = await metricsUrl(keeper.fixture)
    const { families: before, contentType } = await scrape(url)
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(value(before, 'reload_generation')).toBe(1)
    expect(value(before, 'reload_workers', { state: 'ready' })).toBe(2)
    // The spare's memory, once it waits (0 before).
    await keeper.fixture.waitFor(/spare ready \(pid \d+\)/)
    expect(value((await scrape(url)).families, 'reload_spare_resident_memory_bytes')).toBeGreaterThan(10e6)

    const connections = 8
    const load = new Load(keeper.url, { connections, slowEvery: 4, slow: 0.05 }).start()
    await load.until((o) => o.length >= 20, '20 responses')
    for (let roll = 1; roll <= 3; roll++) {
      const { code, stderr } = await cli(['reload', '--wait', '--control', keeper.control])
      expect(code, stderr).toBe(0)
    }
    // A roll is done once the old workers stop accepting; their exit (and its count) follows.
    await until(() => (keeper.fixture.output.match(/\) drained and exited/g) ?? []).length >= 6, () => `6 drains; output:\n${keeper.fixture.output}`, { timeout: 15_000 })
    const afterRolls = load.outcomes.length
    expect(load.failures).toEqual([])

    // The load's keep-alive connections stay with the worker that took them: a restarted worker is reached
    // on new connections.
    const own: Outcome[] = []
    const reach = async (pid: number): Promise<void> => {
      const deadline = Date.now() + 15_000
      while (!own.some((o) => o.pid === pid)) {
        if (Date.now() > deadline) throw new Error(`no answer from pid ${pid} in 15 s`)
        own.push(await request(keeper.url))
      }
    }
    for (const slot of [1, 2]) {
      const victim = workers(keeper.fixture).filter((w) => w.slot === slot).at(-1)?.pid as number
      const from = keeper.fixture.lines.length
      process.kill(victim, 'SIGKILL')
      const { match } = await keeper.fixture.waitFor(new RegExp(`worker ${slot} serves again \\(worker=(\\d+)`), { from, timeout: 15_000 })
      await reach(Number(match[1]))
    }
    await load.until((o) => o.length >= afterRolls + 100, '100 responses after the crashes')
    const outcomes = await load.stop()
    // A SIGKILLed worker takes its sockets with it: at most one failure per connection of the load, and
    // none refused (the keeper's socket listens throughout).
    const crashFailures = load.failures.filter((o) => outcomes.indexOf(o) >= afterRolls)
    expect(load.failures.length).toBe(crashFailures.length)
    expect(crashFailures.length).toBeLessThanOrEqual(2 * connections)
    expect([...crashFailures, ...own].filter((o) => o.error === 'ECONNREFUSED')).toEqual([])
    expect(own.filter((o) => o.error !== undefined)).toEqual([])

    const { families: after } = await scrape(url)
    const delta = (name: string, labels: Record<string, string> = {}): number => value(after, name, labels) - value(before, name, labels)
    expect(delta('reload_rolls_total', { result: 'ok' })).toBe(3)
    expect(delta('reload_rolls_total', { result: 'failed' })).toBe(0)
    // Successful rolls only, and each took at least a worker start.
    expect(delta('reload_roll_duration_seconds')).toBe(3)
    expect(Number(samples(after, 'reload_roll_duration_seconds')[0]?.sum)).toBeGreaterThan(0.1)
    expect(delta('reload_worker_restarts_total', { reason: 'crash' })).toBe(2)
    for (const reason of ['stopped', 'unresponsive', 'memory']) expect(delta('reload_worker_restarts_total', { reason })).toBe(0)
    // Crashed workers were not told to stop: they are restarts, not drains.
    expect(delta('reload_drains_total', { end: 'drained' })).toBe(6)
    for (const end of ['cut', 'killed', 'exited']) expect(delta('reload_drains_total', { end })).toBe(0)
    expect(delta('reload_drain_duration_seconds')).toBe(6)
    expect(delta('reload_requests_cut_total')).toBe(0)
    expect(value(after, 'reload_generation')).toBe(4)
    expect(Object.fromEntries(samples(after, 'reload_workers').map((m) => [m.labels?.state, Number(m.value)]))).toEqual({ starting: 0, ready: 2, draining: 0, backoff: 0 })

    const current = [1, 2].map((slot) => workers(keeper.fixture).filter((w) => w.slot === slot).at(-1) as { pid: number, generation: number, slot: number })
    for (const name of PER_WORKER) {
      const series = samples(after, name)
      expect(series.map((m) => m.labels).sort((a, b) => Number(a?.slot) - Number(b?.slot)), name).toEqual(current.map((w) => ({ slot: String(w.slot), generation: String(w.generation) })))
    }
    for (const w of current) {
      const labels = { slot: String(w.slot), generation: '4' }
      expect(value(after, 'reload_worker_resident_memory_bytes', labels)).toBeGreaterThan(10 * 1024 * 1024)
      expect(value(after, 'reload_worker_heap_used_bytes', labels)).toBeGreaterThan(0)
      expect(value(after, 'reload_worker_cpu_seconds_total', labels)).toBeGreaterThan(0)
      expect(value(after, 'reload_worker_uptime_seconds', labels)).toBeGreaterThan(0)
      expect(value(after, 'reload_worker_requests_in_flight', labels)).toBe(0)
      // Every request the worker took was one of the load's, and the load is over.
      expect(value(after, 'reload_worker_requests_total', labels)).toBe([...outcomes, ...own].filter((o) => o.pid === w.pid).length)
    }
    // The keeper's own process, by prom-client's default collectors.
    expect(value(after, 'process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(samples(after, 'nodejs_eventloop_lag_seconds')).toHaveLength(1)
  })

  it('answers GET and HEAD of /metrics only: 405 with Allow for another method, 404 for another path; a slot in backoff is counted', async () => {
    const keeper = await startKeeper(['--metrics', '127.0.0.1:0'])
    const url = await metricsUrl(keeper.fixture)
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await send(method, url)
      expect(res.status, method).toBe(405)
      expect(res.headers.allow).toBe('GET, HEAD')
    }
    const head = await send('HEAD', url)
    expect(head.status).toBe(200)
    expect(head.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(head.body).toBe('')
    for (const path of ['/', '/metrics/x', '/metricsx']) expect((await send('GET', new URL(path, url).href)).status, path).toBe(404)
    // The app's socket is the app's: /metrics there is whatever the app answers.
    expect((await get(`${keeper.url}/metrics`)).body).toMatch(/^ospid:/)

    // The endpoint answers while no worker serves, and says why.
    keeper.behave('crash')
    const [first] = workers(keeper.fixture).map((w) => w.pid) as [number]
    process.kill(first, 'SIGKILL')
    await keeper.fixture.waitFor(/worker 1 .*next start in [1-9]\d* ms/, { timeout: 15_000 })
    // Each scrape is an answer to wait on: the slot is in backoff until its next try.
    const deadline = Date.now() + 15_000
    let last = (await scrape(url)).families
    while (value(last, 'reload_workers', { state: 'backoff' }) !== 1 && Date.now() < deadline) last = (await scrape(url)).families
    expect(value(last, 'reload_workers', { state: 'backoff' })).toBe(1)
    expect(value(last, 'reload_workers', { state: 'ready' })).toBe(0)
    expect(value(last, 'reload_worker_restarts_total', { reason: 'crash' })).toBeGreaterThanOrEqual(1)
  })

  for (const { what, host } of [{ what: 'in use', host: '127.0.0.1' }, { what: 'of no interface of this machine', host: '192.0.2.1' }]) {
    it(`an address ${what} is ERR_RELOAD_LISTEN at start, naming it: exit 1, no worker started, nothing left behind`, async () => {
      const taken = net.createServer()
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
      try {
        const port = host === '127.0.0.1' ? (taken.address() as net.AddressInfo).port : 9464
        const dir = tempDir()
        const control = join(dir, 'control.sock')
        const pidFile = join(dir, 'keeper.pid')
        const app = await portBelowEphemeralRange()
        const { code, stderr } = await cli(['run', '--listen', `127.0.0.1:${app}`, '--control', control, '--pid-file', pidFile, '--metrics', `${host}:${port}`, '--', process.execPath, plainApp])
        expect(code, stderr).toBe(1)
        const reason = what === 'in use' ? 'EADDRINUSE' : 'EADDRNOTAVAIL'
        expect(stderr).toMatch(new RegExp(`reload: cannot serve metrics on ${host.replaceAll('.', '\\.')}:${port} \\(${reason}\\): .*--metrics.* \\(ERR_RELOAD_LISTEN\\)\\n$`))
        expect(stderr).not.toMatch(/starting worker/)
        expect(existsSync(control)).toBe(false)
        expect(existsSync(pidFile)).toBe(false)
        expect(readdirSync(dir)).toEqual([])
        // The app's port was let go too: it binds again at once.
        const again = net.createServer()
        await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen(app, '127.0.0.1', resolve) })
        again.close()
      } finally {
        taken.close()
      }
    })
  }

  it('one scrape asks the keeper for its status once, however many gauges read it', async () => {
    let asked = 0
    const events = new EventEmitter<KeeperEvents>()
    const keeper: Observed = {
      events,
      status: async () => {
        asked++
        return {
          generation: 3,
          workers: [
            { slot: 1, pid: 11, generation: 3, state: 'ready', uptime: 5000, requests: 2, connections: 3, rss: 50e6, heap: 7e6, served: 40, handed: undefined, cpu: 1.5, cpuPercent: 2, restarts: 0, lastRestart: undefined, replacing: undefined },
            // Replaced over memory: its replacement of the same generation starts beside it.
            { slot: 2, pid: 12, generation: 3, state: 'ready', uptime: 9000, requests: 1, connections: 1, rss: 300e6, heap: 9e6, served: 90, handed: undefined, cpu: 4, cpuPercent: 3, restarts: 1, lastRestart: undefined, replacing: 'memory' },
            { slot: 2, pid: 13, generation: 3, state: 'starting', uptime: 200, requests: undefined, connections: undefined, rss: 30e6, heap: undefined, served: undefined, handed: undefined, cpu: 0.1, cpuPercent: undefined, restarts: 1, lastRestart: undefined, replacing: undefined }
          ],
          waiting: []
        } as unknown as KeeperStatus
      }
    }
    const register = keeperRegistry(keeper)
    events.emit('roll', { ok: true, generation: 2, ms: 700, message: '', code: undefined, at: 0 })
    events.emit('roll', { ok: false, generation: 3, ms: 30_000, message: '', code: 'ERR_RELOAD_NOT_READY', at: 0 })
    events.emit('drained', { slot: 1, pid: 10, ms: 12_000, end: 'cut', cut: 2 })
    events.emit('restart', { slot: 2, reason: 'memory' })
    const families = parsePrometheus(await register.metrics())
    expect(asked).toBe(1)
    await register.metrics()
    expect(asked).toBe(2)
    expect(value(families, 'reload_rolls_total', { result: 'ok' })).toBe(1)
    expect(value(families, 'reload_rolls_total', { result: 'failed' })).toBe(1)
    // The failed roll is counted, not timed.
    expect(samples(families, 'reload_roll_duration_seconds')[0]).toMatchObject({ count: '1', sum: '0.7', buckets: { 0.5: '0', 1: '1' } })
    expect(samples(families, 'reload_drain_duration_seconds')[0]).toMatchObject({ count: '1', sum: '12', buckets: { 10: '0', 30: '1' } })
    expect(value(families, 'reload_drains_total', { end: 'cut' })).toBe(1)
    expect(value(families, 'reload_requests_cut_total')).toBe(2)
    expect(value(families, 'reload_worker_restarts_total', { reason: 'memory' })).toBe(1)
    expect(value(families, 'reload_workers', { state: 'ready' })).toBe(2)
    expect(value(families, 'reload_workers', { state: 'starting' })).toBe(1)
    // Two workers of slot 2 in one generation: gauges add up, counters are the older worker's.
    expect(value(families, 'reload_worker_resident_memory_bytes', { slot: '2', generation: '3' })).toBe(330e6)
    expect(value(families, 'reload_worker_requests_total', { slot: '2', generation: '3' })).toBe(90)
    expect(value(families, 'reload_worker_cpu_seconds_total', { slot: '2', generation: '3' })).toBe(4)
    expect(value(families, 'reload_worker_uptime_seconds', { slot: '2', generation: '3' })).toBe(9)
    expect(value(families, 'reload_worker_heap_used_bytes', { slot: '1', generation: '3' })).toBe(7e6)
  })
})
