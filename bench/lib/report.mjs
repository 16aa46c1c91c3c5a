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

function overhead (part) {
  const lines = [`## 3. Overhead of the adapter${when(part)}`, '']
  const c = part.config ?? {}
  lines.push(`autocannon, ${c.connections} connections, \`GET /\` (hello-world), ${c.pairs} pairs of ${c.seconds} s runs interleaved (with, without, without, with, with, …) after a ${c.warmup} s warm-up of each; ` +
    'both servers up throughout. Ratio = with ÷ without, per pair: median (min–max).', '')
  lines.push('| framework | req/s with | req/s without | throughput ratio | p99 with (ms) | p99 without (ms) | p99 ratio | target: throughput ≥ 0.97 | target: p99 ≤ 1.05 |')
  lines.push('|---|--:|--:|---|--:|--:|---|---|---|')
  for (const r of part.rows) {
    if (r.error !== undefined) { lines.push(`| ${r.framework} | **error**: ${r.error.split('\n')[0]} | | | | | | | |`); continue }
    lines.push(`| ${r.framework} | ${fmt(r.with.rps.median)} | ${fmt(r.without.rps.median)} | ${mid(r.rpsRatio)} | ${fmt(r.with.p99.median)} | ${fmt(r.without.p99.median)} | ${mid(r.p99Ratio)} | ${mark(r.targets.throughput)} | ${mark(r.targets.p99)} |`)
  }
  lines.push('')
  for (const s of part.skipped ?? []) lines.push(`> **Skipped ${s.framework}**: ${s.why}`, '')
  return lines
}

function handover (part) {
  const lines = [`## 4. Handover cost${when(part)}`, '']
  lines.push('Cold start: spawn `node server.js` until its first answer (polled on a fresh connection every 2 ms; the time to its "listening" line is shown too). ' +
    'Handover: `kill -HUP` until the new generation logs "ready" (it serves from then on; nothing polls meanwhile, so the machine is as quiet as for a cold start). ' +
    'Samples alternate. The core\'s own figure is its spawn → ready, as the old generation logs it.', '')
  lines.push('| framework | samples | cold start → first answer, median (min–max) ms | cold start → listening line (ms) | signal → ready, median (min–max) ms | core: spawn → ready (ms) | ratio | difference (ms) | target: signal → ready ≤ cold start + 50 ms |')
  lines.push('|---|--:|---|---|---|---|--:|--:|---|')
  for (const r of part.rows) {
    if (r.error !== undefined) { lines.push(`| ${r.framework} | **error**: ${r.error.split('\n')[0]} | | | | | | | |`); continue }
    lines.push(`| ${r.framework} | ${r.samples} | ${mid(r.cold)} | ${mid(r.coldListening)} | ${mid(r.handover)} | ${mid(r.coreMs)} | ${fmt(r.ratio)} | ${fmt(r.delta)} | ${mark(r.target)} |`)
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

/** The whole report from `results` (parts that did not run are left out). */
export function markdown (results) {
  const lines = ['# reload benchmark', '']
  const m = results.machine
  lines.push(`${results.finishedAt} · Node ${m.node} · ${m.cpus} × ${m.cpu} · ${m.memGb} GB · load average at start ${m.loadavg.join(' ')} · ${results.seconds} s`, '')
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
