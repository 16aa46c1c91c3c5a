// The Markdown report: one table per part, each with its targets, met or not.

const fmt = (n) => (n === undefined || n === null || Number.isNaN(n) ? '–' : typeof n === 'number' ? n.toLocaleString('en-US') : String(n))
const mark = (ok) => (ok ? '✅ met' : '❌ not met')
const trio = (l) => (l?.n > 0 ? `${fmt(l.p50)} / ${fmt(l.p99)} / ${fmt(l.max)}` : '–')
const mid = (s) => (s?.n > 0 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '–')
const kinds = (byKind) => Object.entries(byKind ?? {}).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${fmt(n)}`).join(', ') || '–'
const when = (part) => (part.at === undefined ? '' : ` <sub>(run ${part.at})</sub>`)

function availability (part, config) {
  const lines = [`## 1–2. Availability under reload${when(part)}`, '']
  const c = part.config ?? config
  lines.push(`${c.connections} keep-alive connections from our recorder (no retries), 1 request in ${Math.round(1 / c.slowShare)} asks for ` +
    `\`?sleep=${c.slow}\`; ${c.reloads} reloads per system, one every ${c.interval} ms, or 500 ms after the previous one was ready if that is later. ` +
    'Same machine, same run, one system after the other. "After reload" counts requests started in the second after each signal. ' +
    'Ours: `kill -HUP` to the example with reload. Naive: the plain app, SIGTERM, `node app.js` again. ' +
    `PM2: the plain app in cluster mode (${c.pm2}), \`pm2 reload\`.`, '')
  lines.push('| framework | system | reloads | requests | failed | failed by kind | non-2xx | latency p50 / p99 / max (ms) | after reload p50 / p99 / max (ms) | signal → first answer from new pid, median (min–max) ms | signal → old pid gone, median (min–max) ms | pids seen | longest time without an answer (ms) |')
  lines.push('|---|---|--:|--:|--:|---|--:|---|---|---|---|--:|--:|')
  for (const r of part.runs) {
    if (r.error !== undefined && r.requests === undefined) {
      lines.push(`| ${r.framework} | ${r.label} | ${r.reloads ?? 0} | – | – | **error**: ${r.error.split('\n')[0]} | – | – | – | – | – | – | – |`)
      continue
    }
    const failed = r.system === 'ours' ? `**${fmt(r.failed)}**` : fmt(r.failed)
    lines.push(`| ${r.framework} | ${r.label} | ${r.reloads}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.requests)} | ${failed} | ${kinds(r.failedByKind)} | ` +
      `${fmt(r.non2xx)}${r.non2xx > 0 ? ` (${kinds(r.non2xxByStatus)})` : ''} | ${trio(r.latency)} | ${trio(r.afterReload)} | ${mid(r.toNewPid)} | ${mid(r.oldExit)} | ${r.generations} | ${fmt(r.longestGap)} |`)
  }
  lines.push('')
  for (const s of part.skipped ?? []) lines.push(`> **Skipped ${s.framework}**: ${s.why}`, '')
  const ours = part.runs.filter((r) => r.system === 'ours')
  const bad = ours.filter((r) => r.error !== undefined || r.failed !== 0 || r.non2xx !== 0)
  lines.push(`**Target: 0 failed requests and 0 non-2xx across every reload, for every framework (ours):** ${mark(ours.length > 0 && bad.length === 0)}` +
    (bad.length > 0 ? ` (${bad.map((r) => `${r.framework}: ${r.error ?? `${r.failed} failed, ${r.non2xx} non-2xx`}`).join('; ')})` : '') +
    ` — measured for ${ours.map((r) => r.framework).join(', ') || 'nothing'}.`, '')
  if (part.crosscheck?.length > 0) {
    lines.push('### Cross-check of the recorder against autocannon', '')
    lines.push('Both tools at once against the same server through the same reloads, each with half the connections and the same request mix. ' +
      'autocannon reconnects at once after an error, where the recorder waits 10 ms, so while a port is closed it counts many more errors: ' +
      'compare whether each sees failures, not how many.', '')
    lines.push('| system | tool | connections | answered | req/s | failed (by kind) | non-2xx |')
    lines.push('|---|---|--:|--:|--:|---|--:|')
    for (const x of part.crosscheck) {
      if (x.error !== undefined && x.requests === undefined) { lines.push(`| ${x.label} | – | – | – | – | **error**: ${x.error.split('\n')[0]} | – |`); continue }
      lines.push(`| ${x.label} | recorder | ${x.connections} | ${fmt(x.requests - x.failed)} | ${fmt(Math.round((x.requests - x.failed) / x.seconds))} | ${fmt(x.failed)} (${kinds(x.failedByKind)}) | ${fmt(x.non2xx)} |`)
      const a = x.extra
      if (a !== undefined) lines.push(`| ${x.label} | autocannon | ${a.connections} | ${fmt(a.answered)} | ${fmt(a.rps)} | ${fmt(a.errors)} (${kinds(a.errorsByKind)}) | ${fmt(a.non2xx)} |`)
    }
    lines.push('')
  }
  if (part.chart !== undefined) lines.push(`![Latency of every request over time, coloured by the pid that answered](${part.chart})`, '')
  return lines
}

const verdicts = { met: '✅ met', 'not met': '❌ not met', unresolved: '❔ unresolved' }
const interval = (r) => (r?.lo === undefined ? fmt(r?.ratio) : `${fmt(r.ratio)} (${fmt(r.lo)}–${fmt(r.hi)})`)
const pct = (x) => (x === undefined ? '–' : `±${fmt(Math.round(x * 1000) / 10)}%`)

function overhead (part) {
  const lines = [`## 3. Overhead of the adapter${when(part)}`, '']
  const c = part.config ?? {}
  lines.push(`autocannon, ${c.connections} connections, \`GET /\` (hello-world), with the adapter (the example) and without (the plain app, same handler), ` +
    `both up throughout. After a ${c.warmup} s warm-up of each, pairs of ${c.seconds} s runs, interleaved (with, without, without, with, with, …), ` +
    `added until the 95% interval of the throughput ratio is within ±${fmt(c.precision * 100)}% (at least ${c.minPairs} pairs), ` +
    `or ${c.maxPairs} pairs, or ${c.overheadMinutes} minutes for the whole part. ` +
    'Ratio = with ÷ without, per pair; shown is their geometric mean and its 95% confidence interval (Student\'s t on the logs of the ratios). ' +
    'A target is met when the whole interval is on its right side, not met when wholly on the wrong side, unresolved otherwise. ' +
    (part.rows.some((r) => r.pinned === true) ? 'The servers ran on core 0 and the load generator on the other cores (taskset), so that they do not take turns on one core.' : 'The servers and the load generator shared every core (no taskset).'), '')
  lines.push('| framework | pairs (stopped by) | req/s with / without (median) | throughput ratio (95% interval) | ± | p99 with / without (median ms) | p99 ratio (95% interval) | per-pair ratio range: throughput, p99 | target: throughput ≥ 0.97 | target: p99 ≤ 1.05 |')
  lines.push('|---|---|---|---|--:|---|---|---|---|---|')
  for (const r of part.rows) {
    if (r.error !== undefined) { lines.push(`| ${r.framework} | **error**: ${r.error.split('\n')[0]} | | | | | | | | |`); continue }
    lines.push(`| ${r.framework} | ${r.pairs} (${r.stoppedBy}) | ${fmt(r.with.rps.median)} / ${fmt(r.without.rps.median)} | ${interval(r.rpsRatio)} | ${pct(r.rpsRatio.halfWidth)} | ` +
      `${fmt(r.with.p99.median)} / ${fmt(r.without.p99.median)} | ${interval(r.p99Ratio)} | ${fmt(r.rpsRatio.min)}–${fmt(r.rpsRatio.max)}, ${fmt(r.p99Ratio.min)}–${fmt(r.p99Ratio.max)} | ` +
      `${verdicts[r.targets.throughput]} | ${verdicts[r.targets.p99]} |`)
  }
  lines.push('')
  const errors = part.rows.reduce((n, r) => n + (r.errors ?? 0), 0)
  if (errors > 0) lines.push(`> **${fmt(errors)} errors or non-2xx** answers in the overhead runs: see \`runs\` in the JSON.`, '')
  for (const s of part.skipped ?? []) lines.push(`> **Skipped ${s.framework}**: ${s.why}`, '')
  return lines
}

function handover (part) {
  const lines = [`## 4. Handover cost${when(part)}`, '']
  lines.push('Both timed the same way, to the first answer served by the new pid: one GET on a fresh connection, then 2 ms, again, until a pid ' +
    'other than the old one answers (`ospid:<pid>` in the body). Cold start: from the spawn of `node server.js` (refused until it listens). ' +
    'Handover: from `kill -HUP` to the serving generation (answered by the old pid until the new one takes over). Samples alternate. ' +
    'Also shown: the cold start\'s "listening" line, the handover\'s "ready" line, and the core\'s own spawn → ready as the old generation logs it.', '')
  lines.push('| framework | samples | cold start: spawn → first answer, median (min–max) ms | signal → first answer from new pid, median (min–max) ms | ratio | difference (ms) | spawn → "listening" (ms) | signal → "ready" (ms) | core: spawn → ready (ms) | target: handover ≤ cold start + 50 ms |')
  lines.push('|---|--:|---|---|--:|--:|---|---|---|---|')
  for (const r of part.rows) {
    if (r.error !== undefined) { lines.push(`| ${r.framework} | **error**: ${r.error.split('\n')[0]} | | | | | | | | |`); continue }
    lines.push(`| ${r.framework} | ${r.samples} | ${mid(r.cold)} | ${mid(r.handover)} | ${fmt(r.ratio)} | ${fmt(r.delta)} | ${mid(r.coldListening)} | ${mid(r.handoverReady)} | ${mid(r.coreMs)} | ${mark(r.target)} |`)
  }
  lines.push('')
  for (const s of part.skipped ?? []) lines.push(`> **Skipped ${s.framework}**: ${s.why}`, '')
  return lines
}

function soak (part) {
  const lines = [`## 5. Soak${when(part)}`, '']
  if (part.error !== undefined) return [...lines, `**error**: ${part.error}`, '']
  const c = part.config ?? {}
  lines.push(`${part.reloads} reloads in a row of examples/${part.framework}, each as soon as the newest generation is ready and ${c.settle} ms old, under light load ` +
    `(${c.connections} keep-alive connections, 1 request in ${Math.round(1 / c.slowShare)} with \`?sleep=${c.slow}\`). fds and RSS of each new generation read at that same age.`, '')
  lines.push('| reloads | requests | failed | non-2xx | open fds, reload 1 → last (min–max) | RSS MB, reload 1 → last | RSS MB, median of first 10 → last 10 | signal → new pid answers, median (min–max) ms | old generations alive at the end | leftover processes |')
  lines.push('|--:|--:|--:|--:|---|---|---|---|--:|--:|')
  lines.push(`| ${part.reloads} | ${fmt(part.requests)} | ${fmt(part.failed)}${part.failed > 0 ? ` (${kinds(part.failedByKind)})` : ''} | ${fmt(part.non2xx)} | ${part.fds.first} → ${part.fds.last} (${part.fds.min}–${part.fds.max}) | ` +
    `${part.rss.first} → ${part.rss.last} | ${part.rss.firstTen} → ${part.rss.lastTen} | ${mid(part.toNewPid)} | ${part.oldAlive.length} | ${part.leftover.length} |`)
  lines.push('')
  lines.push(`**Targets:** 0 failed and 0 non-2xx ${mark(part.targets.failed)} · fds flat (last − first ≤ 2) ${mark(part.targets.fds)} · ` +
    `RSS flat (last ten within 10% of first ten) ${mark(part.targets.rss)} · no leftover processes ${mark(part.targets.leftovers)}`, '')
  return lines
}

const names = { availability: 'availability', crosscheck: 'cross-check', overhead: 'overhead', handover: 'handover', soak: 'soak' }

/** The whole report from `results`, one run (parts that did not run are named and left out). */
export function markdown (results) {
  const lines = ['# reload benchmark', '']
  const m = results.machine
  const n = results.changed?.length ?? 0
  const changes = n > 0 ? ` (${n} changed path${n === 1 ? '' : 's'}, listed in the JSON)` : ''
  const commit = results.commit === undefined ? 'not in a git repository' : `commit \`${results.commit}\`${changes}`
  lines.push(`One run, ${results.startedAt} → ${results.finishedAt} (${results.seconds} s) · ${commit} · Node ${m.node} · ${m.os} · ` +
    `${m.cpus} × ${m.cpu} · ${m.memGb} GB · load average at start ${m.loadavg.join(' ')}` +
    `${results.loadavgAtEnd === undefined ? '' : `, at end ${results.loadavgAtEnd.join(' ')}`}`, '')
  const missing = Object.keys(names).filter((p) => !results.partsRun.includes(p))
  lines.push(missing.length === 0
    ? '**Parts:** all of them, in this run.'
    : `**Parts in this run:** ${results.partsRun.map((p) => names[p]).join(', ')}. **Not in this run:** ${missing.map((p) => names[p]).join(', ')} ` +
      '(no figures from other runs are shown).', '')
  const { availability: a, overhead: o, handover: h, soak: s } = results.parts
  if (a !== undefined) lines.push(...availability(a, results.config))
  if (o !== undefined) lines.push(...overhead(o))
  if (h !== undefined) lines.push(...handover(h))
  if (s !== undefined) lines.push(...soak(s))
  lines.push('## Processes', '')
  lines.push(results.leftovers.length === 0
    ? 'Every process the bench started was gone at the end (checked by a mark in each process\'s environment).'
    : `**Leftover processes, killed at the end:** ${results.leftovers.map((l) => `${l.pid} (${l.cmd})`).join(', ')}`, '')
  if (results.errors.length > 0) lines.push('## Errors', '', ...results.errors.map((e) => `- ${e}`), '')
  return lines.join('\n')
}
