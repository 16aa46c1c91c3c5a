// Figures from recorded outcomes: percentiles, failures by kind, and what happened around each reload.

/** The `q` quantile (0..1) of `values` (nearest rank), or undefined when empty. */
export function quantile (values, q) {
  if (values.length === 0) return undefined
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** p50, p99 and max of `values`, rounded to 0.1. */
export function latency (values) {
  if (values.length === 0) return { n: 0 }
  const sorted = Float64Array.from(values).sort()
  const at = (q) => round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))])
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: round(sorted[sorted.length - 1]) }
}

/** Median, min and max of `values` (undefined ones left out), rounded to `digits`. */
export function spread (values, digits = 1) {
  const defined = values.filter((v) => v !== undefined && Number.isFinite(v))
  if (defined.length === 0) return { n: 0 }
  const r = (v) => round(v, digits)
  const sorted = Float64Array.from(defined).sort()
  const half = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
  return { n: defined.length, median: r(median), min: r(sorted[0]), max: r(sorted[sorted.length - 1]) }
}

// Student's t 0.975 quantile for `df` degrees of freedom, by the Cornish–Fisher expansion around the normal
// one: within 0.03 of the exact value from df = 3 and within 0.001 from df = 10, which is all a 95%
// interval needs, without shipping a table.
function t975 (df) {
  const z = 1.959964
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2) +
    (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3)
}

/**
 * The geometric mean of `ratios` and its 95% confidence interval (Student's t on the logs, so with ÷ without
 * and without ÷ with give mirror intervals), with `halfWidth` = (hi − lo) / 2 in the ratio's own units.
 * Undefined interval with fewer than 2 values. The bounds are rounded outwards, so a verdict on the rounded
 * interval is never kinder than on the exact one.
 */
export function ratioInterval (ratios, digits = 4) {
  const logs = ratios.filter((v) => Number.isFinite(v) && v > 0).map(Math.log)
  const n = logs.length
  if (n === 0) return { n }
  const mean = logs.reduce((a, b) => a + b, 0) / n
  if (n < 2) return { n, ratio: round(Math.exp(mean), digits) }
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1))
  const half = t975(n - 1) * sd / Math.sqrt(n)
  const lo = Math.exp(mean - half)
  const hi = Math.exp(mean + half)
  const f = 10 ** digits
  return { n, ratio: round(Math.exp(mean), digits), lo: Math.floor(lo * f) / f, hi: Math.ceil(hi * f) / f, halfWidth: round((hi - lo) / 2, 5), sd: round(sd, 4) }
}

/**
 * A target judged on an interval: "met" when all of it is on the right side of `limit`, "not met" when all of
 * it is on the wrong side, "unresolved" when it straddles the limit. `atLeast` says which side is right.
 */
export function verdict (interval, { atLeast, atMost }) {
  if (interval?.lo === undefined) return 'unresolved'
  if (atLeast !== undefined) return interval.lo >= atLeast ? 'met' : interval.hi < atLeast ? 'not met' : 'unresolved'
  return interval.hi <= atMost ? 'met' : interval.lo > atMost ? 'not met' : 'unresolved'
}

export function round (value, digits = 1) {
  if (value === undefined || !Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/**
 * The availability figures of one run: `outcomes` from the recorder, `events` one per reload
 * (`at` signal time, `readyAt`, `oldPids`, `newPids`, `oldExitAt`), `window` the time after each reload
 * whose requests are reported apart.
 */
export function analyse (outcomes, events, { window = 1000, timeout = 5000, startedAt, stoppedAt } = {}) {
  const { t, ms, pid, out } = outcomes
  const failedByKind = {}
  const non2xxByStatus = {}
  const ok = []
  const pids = new Set()
  let failed = 0
  let non2xx = 0
  for (let i = 0; i < t.length; i++) {
    if (out[i] < 0) {
      failed++
      const kind = outcomes.kindAt(i)
      failedByKind[kind] = (failedByKind[kind] ?? 0) + 1
      continue
    }
    if (out[i] < 200 || out[i] > 299) {
      non2xx++
      non2xxByStatus[out[i]] = (non2xxByStatus[out[i]] ?? 0) + 1
    }
    if (pid[i] > 0) pids.add(pid[i])
    ok.push(i)
  }

  // Outcomes are pushed as they complete, so end times only grow: the first answer after a moment is a search.
  const ends = t.map((start, i) => start + ms[i])
  const reloads = events.map((event) => {
    const after = []
    let failedAfter = 0
    // A request that starts in the window ends after its start, at the latest `timeout` after the window.
    for (let i = lowerBound(ends, event.at); i < t.length && ends[i] < event.at + window + timeout; i++) {
      if (t[i] < event.at || t[i] >= event.at + window) continue
      if (out[i] < 0) failedAfter++
      else after.push(ms[i])
    }
    let firstNew
    const fresh = new Set(event.newPids)
    for (let i = lowerBound(ends, event.at); i < t.length; i++) {
      if (out[i] >= 200 && out[i] <= 299 && fresh.has(pid[i])) { firstNew = ends[i] - event.at; break }
    }
    return {
      toNewPid: round(firstNew),
      toReady: round(event.readyAt - event.at),
      oldExit: round(event.oldExitAt === undefined ? undefined : event.oldExitAt - event.at),
      after,
      failedAfter
    }
  })

  // The longest stretch in which nobody got an answer: what a user calls downtime.
  let gap = 0
  let last = startedAt ?? (ok.length > 0 ? ends[ok[0]] : 0)
  for (const i of ok) {
    if (out[i] < 200 || out[i] > 299) continue
    gap = Math.max(gap, ends[i] - last)
    last = ends[i]
  }
  if (stoppedAt !== undefined) gap = Math.max(gap, stoppedAt - last)

  const seconds = ((stoppedAt ?? ends.at(-1) ?? 0) - (startedAt ?? t[0] ?? 0)) / 1000
  return {
    requests: t.length,
    rps: round(t.length / Math.max(seconds, 0.001), 0),
    seconds: round(seconds),
    ok: ok.length - non2xx,
    failed,
    failedByKind,
    non2xx,
    non2xxByStatus,
    latency: latency(ok.map((i) => ms[i])),
    afterReload: { ...latency(reloads.flatMap((r) => r.after)), failed: reloads.reduce((n, r) => n + r.failedAfter, 0) },
    toNewPid: spread(reloads.map((r) => r.toNewPid)),
    toReady: spread(reloads.map((r) => r.toReady)),
    oldExit: spread(reloads.map((r) => r.oldExit)),
    oldExitMissing: reloads.filter((r) => r.oldExit === undefined).length,
    generations: pids.size,
    longestGap: round(gap),
    perReload: reloads.map(({ after, ...r }) => ({ ...r, p99After: latency(after).p99 }))
  }
}

function lowerBound (sorted, value) {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid] < value) lo = mid + 1
    else hi = mid
  }
  return lo
}
