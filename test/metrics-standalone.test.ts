import { writeFileSync } from 'node:fs'
import type http from 'node:http'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { closeAll, get, keepAliveAgent, Load, startServer, tempDir } from '@reload/test-helpers'

const app = 'test/fixtures/metrics-app.js'

interface Family { name: string, type: string, metrics: Array<{ value?: string, labels?: Record<string, string> }> }
// The library ships no types; its default export is the parser.
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

afterEach(closeAll)

/** GET /metrics and parse it with the Prometheus text format parser; one value per `name{labels}`. */
async function scrape (url: string, agent?: http.Agent): Promise<{ value: (name: string, labels?: Record<string, string>) => number | undefined, names: string[] }> {
  const response = await get(`${url}/metrics`, { agent })
  expect(response.status).toBe(200)
  expect(response.headers?.['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
  const families = parse(response.body)
  return {
    names: families.map((f) => f.name),
    value: (name, labels = {}) => {
      const sample = families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
      return sample?.value === undefined ? undefined : Number(sample.value)
    }
  }
}

it('a standalone server serves reload\'s figures on its own /metrics, across two handovers and a failed one', async () => {
  const failFile = join(tempDir(), 'fail')
  const { fixture, url, pid: first } = await startServer(app, { env: { FAIL_FILE: failFile } })
  const load = new Load(url, { connections: 4 }).start()
  // A scraper's keep-alive connection, opened to generation 2 and still open when it drains.
  const scraper = keepAliveAgent(url, { maxSockets: 1 })
  try {
    await load.servedBy(first, 5)
    fixture.signal('SIGHUP', first)
    const second = await fixture.ready(2)
    await fixture.gone(first)
    await load.servedBy(second, 5)

    const serving = await scrape(url, scraper)
    expect(serving.names).toEqual(expect.arrayContaining(['app_hits_total', 'reload_generation', 'reload_state', 'reload_requests_in_flight',
      'reload_connections', 'reload_requests_total', 'reload_handovers_total', 'reload_handover_duration_seconds', 'reload_requests_cut_total',
      'reload_generation_start_seconds']))
    expect(serving.value('reload_generation')).toBe(2)
    expect(serving.value('reload_handovers_total', { result: 'ok' })).toBe(0)

    fixture.signal('SIGHUP', second)
    const third = await fixture.ready(3)
    await fixture.waitFor(new RegExp(`^reload\\[${second}\\]: draining`))
    // Generation 2 answers its idle connection once more while it drains: the handover it started, ok.
    const draining = await scrape(url, scraper)
    expect(draining.value('reload_generation')).toBe(2)
    expect(draining.value('reload_state', { state: 'draining' })).toBe(1)
    expect(draining.value('reload_handovers_total', { result: 'ok' })).toBe(1)
    expect(draining.value('reload_handovers_total', { result: 'failed' })).toBe(0)
    await fixture.gone(second)
    await load.servedBy(third, 5)

    const before = await scrape(url)
    expect(before.value('reload_generation')).toBe(3)
    expect(before.value('reload_state', { state: 'ready' })).toBe(1)
    expect(before.value('reload_handovers_total', { result: 'ok' })).toBe(0)
    expect(before.value('reload_generation_start_seconds')).toBeGreaterThan(0)
    // The scrape itself is in flight on its connection.
    expect(before.value('reload_requests_in_flight')).toBeGreaterThanOrEqual(1)
    expect(before.value('reload_connections')).toBeGreaterThanOrEqual(1)

    // The next generation throws at start: generation 3 serves on and counts a failed handover.
    writeFileSync(failFile, 'crash')
    fixture.signal('SIGHUP', third)
    await fixture.waitFor(new RegExp(`error: handover failed, pid ${third} keeps serving: .*\\(code=ERR_RELOAD_CHILD_EXITED\\)`))
    const served = load.outcomes.filter((o) => o.pid === third).length
    await load.servedBy(third, served + 5)

    const after = await scrape(url)
    expect(after.value('reload_generation')).toBe(3)
    expect(after.value('reload_state', { state: 'ready' })).toBe(1)
    expect(after.value('reload_handovers_total', { result: 'failed' })).toBe(1)
    expect(after.value('reload_handovers_total', { result: 'ok' })).toBe(0)
    expect(after.value('reload_handovers_total', { result: 'rolled_back' })).toBe(0)
    expect(after.value('reload_requests_cut_total')).toBe(0)
    expect(after.value('reload_requests_total')).toBeGreaterThanOrEqual((before.value('reload_requests_total') ?? Infinity) + 5)
  } finally {
    scraper.destroy()
    await load.stop()
  }
  expect(load.failures).toEqual([])
})
