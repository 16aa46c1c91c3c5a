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

const ratioText = (r) => (r?.ratio === undefined ? '–' : r.lo === undefined ? fmt(r.ratio) : `${fmt(r.ratio)} (${fmt(r.lo)}–${fmt(r.hi)})`)

function keeper (part) {
  const lines = [`## 6. The keeper: \`reload run\` against PM2 and Node's cluster module${when(part)}`, '']
  const c = part.config ?? {}
  lines.push('Ours is the plain app (`bench/apps/http.mjs`, no reload code) under `reload run --listen 127.0.0.1:PORT --workers N -- node app.mjs`: ' +
    'the keeper binds the socket once and keeps N workers serving on it. PM2 runs the same file. ' +
    `Load: our recorder, ${c.connections} keep-alive connections, 1 request in ${Math.round(1 / c.slowShare)} asks for \`?sleep=${c.slow}\`, no retries ` +
    '(after a failure a connection waits 10 ms). Systems measured one after the other in this run.', '')
  if (part.crash !== undefined) lines.push(...keeperCrash(part.crash, c))
  if (part.roll !== undefined) lines.push(...keeperRoll(part.roll, c))
  if (part.throughput !== undefined) lines.push(...keeperThroughput(part.throughput, c))
  return lines
}

function keeperCrash (p, c) {
  const lines = [`### 6a. A worker SIGKILLed every ${fmt(c.every / 1000)} s${p.seconds === undefined ? '' : ` <sub>(${p.seconds} s)</sub>`}`, '']
  if (p.error !== undefined) return [...lines, `**error**: ${p.error}`, '']
  lines.push(`${c.kills} SIGKILLs of the one worker, one every ${fmt(c.every)} ms, under load. Ours: \`reload run --workers 1\`, which starts a new worker on the ` +
    'socket it holds (connections wait in its backlog). PM2: fork mode and cluster mode with one instance, autorestart (the set-up of part 2: wait_ready, ' +
    'kill_timeout 1600). **refused** counts ECONNREFUSED; **other failed** the requests in flight on the killed worker\'s connections (no system can answer those). ' +
    '**kill → first answer** is timed by a loop of GETs on fresh connections (a new one 2 ms after each failure, or when the last has waited 50 ms: ' +
    'a GET that hangs does not stand for the whole wait; **hung** counts those that got nothing in 5 s). **cold start**: the same app spawned by hand on ' +
    'another port after each kill, under the same load, timed by the same loop from the spawn. The keeper backs off when workers die ' +
    'in a row less than 2 s after they were ready (the first restart at once, then 250 ms, doubling, up to 10 s): the wait it announced ' +
    'is shown, and the time net of it. **replacement listed**: the keeper\'s `worker 1 serves again` line; PM2 lists the new pid online.', '')
  lines.push('| system | kills | requests | refused | other failed (by kind) | non-2xx | kill → first answer from the new pid, median (min–max) ms | keeper\'s backoff per kill (ms) | net of backoff, median (min–max) ms | cold start: spawn → first answer, median (min–max) ms | ratio (net ratio) | kill → replacement listed (ms, median) | recorder: first answer from the new pid (ms, median) | hung | longest time without an answer (ms) | latency p50 / p99 / max (ms) |')
  lines.push('|---|--:|--:|--:|---|--:|---|---|---|---|---|--:|--:|--:|--:|---|')
  for (const r of p.rows) {
    if (r.requests === undefined) { lines.push(`| ${r.label} | ${r.kills ?? 0} | **error**: ${(r.error ?? '?').split('\n')[0]} | | | | | | | | | | | | | |`); continue }
    const others = Object.entries(r.failedByKind).filter(([k]) => k !== 'ECONNREFUSED')
    const refused = r.system === 'ours' ? `**${fmt(r.refused)}**` : fmt(r.refused)
    lines.push(`| ${r.label} | ${r.kills}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.requests)} | ${refused} | ${fmt(r.other)} (${kinds(Object.fromEntries(others))}) | ${fmt(r.non2xx)} | ` +
      `${mid(r.answer)} | ${r.backoffs?.join(', ') ?? '–'} | ${mid(r.answerNet)} | ${mid(r.cold)} | ${fmt(r.ratio)}${r.ratioNet === undefined ? '' : ` (${fmt(r.ratioNet)})`} | ` +
      `${fmt(r.ready?.median)} | ${fmt(r.recorderAnswer?.median)} | ${fmt(r.hung)} | ${fmt(r.longestGap)} | ${trio(r.latency)} |`)
  }
  lines.push('')
  const ours = p.rows.find((r) => r.system === 'ours')
  if (ours !== undefined) {
    lines.push(`**Target: no refused connection while a worker restarts (ours):** ${mark(ours.requests !== undefined && ours.error === undefined && ours.refused === 0)}` +
      (ours.error !== undefined ? ` (${ours.error.split('\n')[0]})` : ''), '')
  }
  return lines
}

function keeperRoll (p, c) {
  const lines = [`### 6b. Rolling reloads of ${c.workers} workers${p.seconds === undefined ? '' : ` <sub>(${p.seconds} s)</sub>`}`, '']
  if (p.error !== undefined) return [...lines, `**error**: ${p.error}`, '']
  lines.push(`${c.reloads} reloads per system under load, each as soon as the previous one is done and the new workers have served ${c.serve} ms. ` +
    `Ours: ${c.via === 'cli' ? '`reload reload --wait`' : '`kill -HUP` to the keeper'}, done at its \`generation N serves\` line (the workers are replaced one at a time). ` +
    `PM2: cluster mode \`-i ${c.workers}\`, \`pm2 reload\` (one instance after the other), done when it returns. ` +
    '**drain set-up**: what part 2 gives PM2 (wait_ready with `process.send(\'ready\')`, listen_timeout 10000, kill_timeout 1600, a SIGINT handler that closes the server); ' +
    '**plain app**: none of it (BENCH_PLAIN=1; PM2 without wait_ready). Under the keeper the app needs neither. ' +
    'A keep-alive connection stays with its worker, so a new worker gets requests as clients reconnect: for PM2 with the set-up, once an old one is cut.', '')
  lines.push('| system | app | reloads | requests | failed | failed by kind | non-2xx | signal → reload done, median (min–max) ms | signal → first answer from a new pid, median (min–max) ms | signal → old workers gone, median ms | pids seen (expected) | longest time without an answer (ms) | latency p50 / p99 / max (ms) |')
  lines.push('|---|---|--:|--:|--:|---|--:|---|---|--:|--:|--:|---|')
  for (const r of p.rows) {
    const app = r.setup ? 'drain set-up' : 'plain app'
    const name = r.label.replace(/, (drain set-up|plain app)$/, '')
    if (r.requests === undefined) { lines.push(`| ${name} | ${app} | ${r.reloads ?? 0} | **error**: ${(r.error ?? '?').split('\n')[0]} | | | | | | | | | |`); continue }
    const failed = r.system === 'ours' ? `**${fmt(r.failed)}**` : fmt(r.failed)
    lines.push(`| ${name} | ${app} | ${r.reloads}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.requests)} | ${failed} | ${kinds(r.failedByKind)} | ` +
      `${fmt(r.non2xx)}${r.non2xx > 0 ? ` (${kinds(r.non2xxByStatus)})` : ''} | ${mid(r.toReady)} | ${mid(r.toNewPid)} | ${fmt(r.oldExit?.median)} | ${r.generations} (${r.pidsExpected}) | ${fmt(r.longestGap)} | ${trio(r.latency)} |`)
  }
  lines.push('')
  const ours = p.rows.filter((r) => r.system === 'ours')
  const bad = ours.filter((r) => r.error !== undefined || r.failed !== 0 || r.non2xx !== 0)
  if (ours.length > 0) {
    lines.push(`**Target: 0 failed requests and 0 non-2xx across every roll, with and without the set-up (ours):** ${mark(bad.length === 0)}` +
      (bad.length > 0 ? ` (${bad.map((r) => `${r.setup ? 'drain set-up' : 'plain app'}: ${r.error?.split('\n')[0] ?? `${r.failed} failed, ${r.non2xx} non-2xx`}`).join('; ')})` : ''), '')
  }
  return lines
}

function keeperThroughput (p) {
  const lines = [`### 6c. Hello-world throughput, and how workers share it${p.seconds === undefined ? '' : ` <sub>(${p.seconds} s)</sub>`}`, '']
  if (p.error !== undefined) return [...lines, `**error**: ${p.error}`, '']
  const c = p.config ?? {}
  const cpus = p.pinned
    ? `The servers (every process of each: keeper, PM2's daemon, cluster primary, workers) ran on core${p.serverCpus.includes('-') ? 's' : ''} ${p.serverCpus} ` +
      `and the load on ${p.loadCpus} (taskset)${p.serverCpus === '0' ? ', so on this machine 2 workers share one core' : ''}.`
    : 'The servers and the load generator shared every core (no taskset).'
  lines.push(`autocannon, ${c.connections} keep-alive connections, \`GET /\`, against five servers up throughout: ours with 2 workers, PM2 cluster mode \`-i 2\`, ` +
    'Node\'s cluster module with 2 workers (`bench/apps/cluster.mjs`, its default round-robin: the primary accepts and hands each connection over), ours with 1 worker, ' +
    `and the app alone (\`node app.mjs\`). After a ${c.warmup} s warm-up of each, ${p.rounds} rounds of ${c.seconds} s runs, one per server, the order turning each round ` +
    '(the two 1-worker servers always back to back, their order alternating). Ratio = per round; shown is their geometric mean and 95% interval. ' +
    cpus + ' Each answer\'s pid is counted: the share of each worker over all runs, and the busiest worker\'s share in each run (each run opens its connections anew).', '')
  lines.push('| server | req/s, median (min–max) | p99, median ms | share of the requests per worker | busiest worker\'s share per run, median (min–max) % | errors + non-2xx |')
  lines.push('|---|---|--:|---|---|--:|')
  for (const r of p.rows) {
    const shares = r.workers > 1 ? r.shares.map((s) => `${fmt(s.share)}%`).join(' / ') : '–'
    lines.push(`| ${r.label} | ${mid(r.rps)} | ${fmt(r.p99.median)} | ${shares} | ${r.workers > 1 ? mid(r.topShare) : '–'} | ${fmt(r.errors + r.non2xx)} |`)
  }
  lines.push('')
  const t = p.ratios
  lines.push('| ratio | per-round ratios: geometric mean (95% interval) | per-round range | target |')
  lines.push('|---|---|---|---|')
  lines.push(`| req/s, ours 2 workers ÷ PM2 cluster -i 2 | ${ratioText(t.ours2ToPm2)} | ${fmt(t.ours2ToPm2.min)}–${fmt(t.ours2ToPm2.max)} | – |`)
  lines.push(`| req/s, ours 2 workers ÷ Node cluster 2 workers | ${ratioText(t.ours2ToCluster)} | ${fmt(t.ours2ToCluster.min)}–${fmt(t.ours2ToCluster.max)} | – |`)
  lines.push(`| req/s, ours 1 worker ÷ the app alone | ${ratioText(t.ours1ToPlain)} | ${fmt(t.ours1ToPlain.min)}–${fmt(t.ours1ToPlain.max)} | ≥ 0.97: ${verdicts[p.target]} |`)
  lines.push(`| p99, ours 1 worker ÷ the app alone | ${ratioText(t.ours1ToPlainP99)} | ${fmt(t.ours1ToPlainP99.min)}–${fmt(t.ours1ToPlainP99.max)} | – |`)
  lines.push('')
  lines.push('A target is met when the whole interval is on its right side, not met when wholly on the wrong side, unresolved otherwise (too few rounds, or a noisy machine).', '')
  return lines
}

const devKinds = ['ECONNREFUSED', 'ECONNRESET', 'socket hang up', 'timeout']
const p90 = (s) => (s?.n > 0 ? `${fmt(s.median)} / ${fmt(s.p90)} (${fmt(s.min)}–${fmt(s.max)})` : '–')

function devPart (part) {
  const took = part.seconds === undefined ? '' : `, ${part.seconds} s`
  const lines = [`## 7. Dev mode: \`reload dev\` against nodemon and \`node --watch\`${part.at === undefined ? '' : ` <sub>(run ${part.at}${took})</sub>`}`, '']
  if (part.error !== undefined) return [...lines, `**error**: ${part.error}`, '']
  const c = part.config ?? {}
  lines.push('The same plain app (`bench/apps/dev.mjs`: node:http, no reload code), copied into a folder of its own for each system and run from there: ' +
    '`reload dev --listen 127.0.0.1:PORT -- node server.mjs`, `nodemon server.mjs` (its defaults), `node --watch server.mjs`. ' +
    `Load: our recorder, ${c.connections} keep-alive connections, 1 request in ${Math.round(1 / c.slowShare)} asks for \`?sleep=${c.slow}\`, no retries ` +
    `(after a failure a connection waits 10 ms). ${c.saves} saves per system, each a rewrite of server.mjs in place with the next version in its answer ` +
    `(\`ospid:<pid> version:<N>\`), one every ${fmt(c.interval)} ms, or ${fmt(c.serve)} ms after the new version's first answer if that is later; ` +
    `a save not answered within ${fmt(c.timeout)} ms counts as not served. **save → new version**: from the write to the first answer (its end) ` +
    'carrying the new version, from any connection. **noticed**: the tool\'s own line about the save (`↻ … changed`, `restarting due to changes`, ' +
    '`Restarting \'server.mjs\'`); **ready**: ours\' `✓ ready in N ms`, its own figure. **old after new**: answers with an older version to requests ' +
    `started after the new version's first answer. In ${part.rounds ?? 1} round${part.rounds > 1 ? 's' : ''}: each starts every system afresh for its share of the saves, ` +
    'one system after the other, the order turning from round to round, so that each meets the same drift of a shared machine.', '')
  lines.push('| system | saves (served) | requests | failed | ECONNREFUSED | ECONNRESET | socket hang up | timeout | other | non-2xx | save → new version, median / p90 (min–max) ms | save → noticed, median ms | "ready in", median ms | old after new | longest time without an answer (ms) | latency p50 / p99 / max (ms) |')
  lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|---|')
  for (const r of part.rows ?? []) {
    if (r.requests === undefined) { lines.push(`| ${r.label} | ${r.saves ?? 0} | **error**: ${(r.error ?? '?').split('\n')[0]} | | | | | | | | | | | | | |`); continue }
    const by = r.failedByKind ?? {}
    const other = Object.entries(by).filter(([k]) => !devKinds.includes(k))
    const failed = r.system === 'ours' ? `**${fmt(r.failed)}**` : fmt(r.failed)
    const served = r.served === r.saves ? `${r.saves} (${r.served})` : `${r.saves} (**${r.served}**; not: ${r.notServed.join(', ')})`
    lines.push(`| ${r.label} | ${served}${r.error !== undefined ? ' (stopped: error)' : ''} | ${fmt(r.requests)} | ${failed} | ${devKinds.map((k) => fmt(by[k] ?? 0)).join(' | ')} | ` +
      `${other.length === 0 ? 0 : kinds(Object.fromEntries(other))} | ${fmt(r.non2xx)}${r.non2xx > 0 ? ` (${kinds(r.non2xxByStatus)})` : ''} | ${p90(r.toNew)} | ` +
      `${fmt(r.noticed?.median)} | ${fmt(r.readyMs?.median)} | ${fmt(r.stale)} | ${fmt(r.longestGap)} | ${trio(r.latency)} |`)
  }
  lines.push('')
  if ((part.ratios ?? []).length > 0) {
    lines.push('| ours ÷ | save → new version, median | save → new version, p90 | paired saves, geometric mean (95% interval) | failed requests, ours / theirs | longest time without an answer |')
    lines.push('|---|--:|--:|--:|---|--:|')
    for (const x of part.ratios) {
      lines.push(`| ${x.label} | ${fmt(x.median)} | ${fmt(x.p90)} | ${ratioText(x.paired)}${x.paired?.n > 0 ? `, ${x.paired.n} pairs` : ''} | ${fmt(x.failed.ours)} / ${fmt(x.failed.theirs)}${x.failed.ratio === undefined ? '' : ` (${fmt(x.failed.ratio)})`} | ${fmt(x.longestGap)} |`)
    }
    lines.push('', 'Below 1: ours took less time (or failed fewer requests). A pair is the k-th save of a round, ours and theirs.', '')
    const nodemon = part.ratios.find((x) => x.target !== undefined)
    if (nodemon !== undefined) lines.push(`**Target: save → new version at most nodemon's (paired ratio's 95% interval at or below 1):** ${verdicts[nodemon.target]}`, '')
  }
  const ours = (part.rows ?? []).find((r) => r.system === 'ours')
  if (ours !== undefined) {
    const ok = ours.requests !== undefined && ours.error === undefined && ours.failed === 0 && ours.non2xx === 0 && ours.served === ours.saves
    lines.push(`**Target: 0 failed requests and 0 non-2xx across every save, and every save served (ours):** ${mark(ok)}` +
      (ok ? '' : ` (${ours.error?.split('\n')[0] ?? `${ours.failed} failed, ${ours.non2xx} non-2xx, ${ours.served} of ${ours.saves} saves served`})`), '')
  }
  return lines
}

const names = { availability: 'availability', crosscheck: 'cross-check', overhead: 'overhead', handover: 'handover', soak: 'soak', keeper: 'keeper', dev: 'dev' }

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
    : missing.length === 1 && missing[0] === 'dev'
      ? '**Parts:** all those of a full run, in this run (dev is not one of them: `pnpm bench dev` runs it).'
      : `**Parts in this run:** ${results.partsRun.map((p) => names[p]).join(', ')}. **Not in this run:** ${missing.map((p) => names[p]).join(', ')} ` +
      '(no figures from other runs are shown).', '')
  const { availability: a, overhead: o, handover: h, soak: s, keeper: k, dev: d } = results.parts
  if (a !== undefined) lines.push(...availability(a, results.config))
  if (o !== undefined) lines.push(...overhead(o))
  if (h !== undefined) lines.push(...handover(h))
  if (s !== undefined) lines.push(...soak(s))
  if (k !== undefined) lines.push(...keeper(k))
  if (d !== undefined) lines.push(...devPart(d))
  lines.push('## Processes', '')
  lines.push(results.leftovers.length === 0
    ? 'Every process the bench started was gone at the end (checked by a mark in each process\'s environment).'
    : `**Leftover processes, killed at the end:** ${results.leftovers.map((l) => `${l.pid} (${l.cmd})`).join(', ')}`, '')
  if (results.errors.length > 0) lines.push('## Errors', '', ...results.errors.map((e) => `- ${e}`), '')
  return lines.join('\n')
}
