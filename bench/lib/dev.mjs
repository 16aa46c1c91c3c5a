// Part 7, dev mode: `reload dev` (ours) against nodemon and `node --watch`, each running the same plain app
// (bench/apps/dev.mjs, no reload code) from a folder of its own, under the recorder's keep-alive load,
// through a series of saves: each a rewrite of the file with the next version in its answer, in rounds that
// take the systems in turn. Per system: failed requests by kind, and each save's time from the write to the
// first answer carrying the new version; ours ÷ each, on the medians and on the paired saves.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clear, status } from './progress.mjs'
import { freePort, isAlive, now, Proc, signal, sleep, tree, waitGone } from './procs.mjs'
import { get, Recorder } from './recorder.mjs'
import { analyse, latency, quantile, ratioInterval, round, spread, verdict } from './stats.mjs'
import { reloadBin } from './systems.mjs'

const fmt = (n) => n.toLocaleString('en-US')
const host = '127.0.0.1'

/** The app every system runs, copied into a folder of its own and rewritten at each save. */
export const devApp = fileURLToPath(new URL('../apps/dev.mjs', import.meta.url))
const nodemonBin = join(dirname(createRequire(import.meta.url).resolve('nodemon/package.json')), 'bin', 'nodemon.js')

// The app's folders, removed at the end of each system's run, and at the exit (Ctrl-C) if one is left.
const dirs = new Set()
process.on('exit', () => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }) })

/**
 * The systems by the name used on the command line: how each is started in the app's folder (as
 * `node <script> ...args`, with `nodeArgs` before the script), and its own lines: `noticed` when it saw the
 * save, `ready` (ours) when it says the new code serves, with its own time in ms.
 */
export const devSystems = {
  ours: {
    label: 'reload dev (ours)',
    command: (port) => ({ script: reloadBin, args: ['dev', '--listen', `${host}:${port}`, '--', process.execPath, 'server.mjs'] }),
    noticed: /\[reload\] ↻ /,
    ready: /\[reload\] ✓ ready in (\d+) ms/
  },
  nodemon: {
    label: 'nodemon',
    // Its defaults (watch the folder, extensions js,mjs,cjs,json, no delay); no update check over the network.
    command: () => ({ script: nodemonBin, args: ['--no-update-notifier', 'server.mjs'] }),
    noticed: /\[nodemon\] restarting due to changes/
  },
  watch: {
    label: 'node --watch',
    command: () => ({ script: 'server.mjs', nodeArgs: ['--watch'] }),
    noticed: /Restarting '/
  }
}

/** The app's source with `const VERSION = <version>`. */
function withVersion (source, version) {
  const re = /^const VERSION = \d+$/m
  if (!re.test(source)) throw new Error(`${devApp} has no line \`const VERSION = <number>\` to rewrite`)
  return source.replace(re, `const VERSION = ${version}`)
}

/** Median, p90, min and max of `values` (undefined ones left out). */
function summary (values, digits = 1) {
  const defined = values.filter((v) => v !== undefined && Number.isFinite(v))
  return { ...spread(defined, digits), p90: round(quantile(defined, 0.9), digits) }
}

/** Polls `url` (a GET on a fresh connection every 10 ms) until a 2xx carries `version`; undefined after `ms`. */
async function untilVersion (url, version, ms) {
  const deadline = now() + ms
  while (now() < deadline) {
    const r = await get(url, 1000)
    if (r.status >= 200 && r.status <= 299 && r.version === version) return r
    await sleep(10)
  }
  return undefined
}

/**
 * The first 2xx among `outcomes` from row `from` on that carries `version` (rows are pushed as requests
 * end, so the first found ended first), watched every 2 ms until `deadline`: `{ end, pid }` or undefined.
 */
async function firstWith (outcomes, version, from, deadline) {
  let i = from
  for (;;) {
    for (; i < outcomes.count; i++) {
      if (outcomes.ver[i] === version && outcomes.out[i] >= 200 && outcomes.out[i] <= 299) {
        return { end: outcomes.t[i] + outcomes.ms[i], pid: outcomes.pid[i] }
      }
    }
    if (now() > deadline) return undefined
    await sleep(2)
  }
}

/**
 * Stops `proc` and all it started: SIGTERM to it (each tool stops its own children), then, after `grace`
 * ms, SIGKILL to whatever of its tree (and of the pids in `also`) is still alive, each by pid. Returns the
 * pids that outlived the SIGTERM, and how long until all were gone.
 */
async function stopTree (proc, also, grace = 10_000) {
  const pids = [...new Set([...tree(proc.pid), ...also])].filter(isAlive)
  const at = now()
  signal(proc.pid, 'SIGTERM')
  const left = await waitGone(pids, grace)
  const ms = round(now() - at, 0)
  if (left.length === 0) return { left, ms }
  const all = [...new Set([...left, ...tree(proc.pid)])]
  for (const pid of all) signal(pid, 'SIGKILL')
  await waitGone(all, 2000)
  return { left, ms }
}

/** Each save's time to the new version in `row`, in order (undefined: not served). */
const times = (row) => row.samples.map((s) => s.ms)

/**
 * Every system in `systems` through `saves` saves each, in `rounds` rounds (the machine is shared, its speed
 * drifts: each round runs every system once, the order turning, so each system meets the same drift). Each
 * round starts each system afresh in a folder of its own; see {@link devOne}. Adds the ratios of ours to
 * each other system: of the medians and p90s, and the geometric mean of the paired saves (the k-th save of
 * a round, ours ÷ theirs) with its 95% interval, and against nodemon the target, ours at most nodemon's.
 */
export async function dev ({ systems, rounds, ...options }) {
  const template = readFileSync(devApp, 'utf8')
  withVersion(template, 0)
  const { saves } = options
  const count = Math.max(1, Math.min(rounds ?? (systems.length > 1 ? 5 : 1), saves))
  const runs = new Map(systems.map((system) => [system, []]))
  // A system that failed (not installed, exited) is not tried again in the later rounds.
  const broken = new Set()
  for (let r = 0; r < count; r++) {
    // Saves spread as evenly as they go; each round's first save is 1 again, in a folder of its own.
    const here = Math.floor(saves / count) + (r < saves % count ? 1 : 0)
    const order = systems.map((_, i) => systems[(i + r) % systems.length])
    for (const system of order) {
      if (broken.has(system)) continue
      const row = await devOne({ ...options, saves: here, system, template, round: r + 1, rounds: count, ...(count > 1 && { tail: 500 }) })
      runs.get(system).push(row)
      if (row.error !== undefined) broken.add(system)
    }
  }
  const rows = systems.map((system) => merge(runs.get(system)))
  const ours = rows.find((r) => r.system === 'ours')
  const ratios = []
  if (ours?.toNew?.n > 0) {
    const oursRuns = runs.get('ours')
    for (const r of rows) {
      if (r === ours || !(r.toNew?.n > 0)) continue
      const ratio = (a, b) => (a !== undefined && b > 0 ? round(a / b, 2) : undefined)
      const pairs = []
      for (const theirs of runs.get(r.system)) {
        const a = times(oursRuns.find((x) => x.round === theirs.round) ?? { samples: [] })
        const b = times(theirs)
        for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] > 0 && b[i] > 0) pairs.push(a[i] / b[i])
      }
      const paired = ratioInterval(pairs, 2)
      ratios.push({
        system: r.system,
        label: r.label,
        median: ratio(ours.toNew.median, r.toNew.median),
        p90: ratio(ours.toNew.p90, r.toNew.p90),
        paired,
        ...(r.system === 'nodemon' && { target: verdict(paired, { atMost: 1 }) }),
        failed: { ours: ours.failed, theirs: r.failed, ratio: ratio(ours.failed, r.failed) },
        longestGap: ratio(ours.longestGap, r.longestGap)
      })
    }
  }
  return { rows, ratios, rounds: count }
}

const sum = (values) => values.reduce((a, b) => a + (b ?? 0), 0)
const sumBy = (objects) => {
  const total = {}
  for (const o of objects) for (const [k, n] of Object.entries(o ?? {})) total[k] = (total[k] ?? 0) + n
  return total
}

/** One system's rounds as one row: counts added, times over every save, the longest gap and latency over all. */
function merge (parts) {
  const first = parts[0]
  const row = { system: first.system, label: first.label, rounds: parts.length, savesAsked: sum(parts.map((p) => p.savesAsked)) }
  const errored = parts.find((p) => p.error !== undefined)
  if (errored !== undefined) row.error = `round ${errored.round}: ${errored.error}`
  row.startMs = spread(parts.map((p) => p.startMs))
  row.leftover = parts.flatMap((p) => p.leftover ?? [])
  row.stopMs = Math.max(...parts.map((p) => p.stopMs ?? 0))
  row.saves = sum(parts.map((p) => p.saves))
  row.samples = parts.flatMap((p) => (p.samples ?? []).map((s) => ({ round: p.round, ...s })))
  const measured = parts.filter((p) => p.requests !== undefined)
  if (measured.length === 0) return row
  const samples = row.samples
  Object.assign(row, {
    served: samples.filter((s) => s.ms !== undefined).length,
    notServed: samples.filter((s) => s.ms === undefined).map((s) => `${s.round}.${s.version}`),
    toNew: summary(samples.map((s) => s.ms)),
    noticed: summary(samples.map((s) => s.noticed)),
    readyMs: devSystems[first.system].ready === undefined ? undefined : summary(samples.map((s) => s.readyMs), 0),
    stale: sum(measured.map((p) => p.stale)),
    requests: sum(measured.map((p) => p.requests)),
    rps: round(sum(measured.map((p) => p.requests)) / sum(measured.map((p) => p.seconds)), 0),
    failed: sum(measured.map((p) => p.failed)),
    failedByKind: sumBy(measured.map((p) => p.failedByKind)),
    non2xx: sum(measured.map((p) => p.non2xx)),
    non2xxByStatus: sumBy(measured.map((p) => p.non2xxByStatus)),
    latency: latency(measured.flatMap((p) => p.okMs)),
    longestGap: Math.max(...measured.map((p) => p.longestGap)),
    pids: sum(measured.map((p) => p.pids))
  })
  return row
}

/**
 * One system under the recorder's keep-alive load through `saves` saves. Each save rewrites server.mjs in
 * place with the next version; the next save comes `interval` ms after it, or `serve` ms after the new
 * version's first answer if that is later, so each save is measured alone and each version serves a while.
 * A save whose version has not answered within `saveTimeout` ms counts as not served, and the next one comes.
 */
async function devOne ({ system, template, saves, interval, serve, saveTimeout, connections, slowShare, slow, timeout = 5000, lead = 1000, tail = 1000, round: r = 1, rounds = 1 }) {
  const spec = devSystems[system]
  const row = { system, label: spec.label, savesAsked: saves, round: r }
  const dir = mkdtempSync(join(tmpdir(), 'reload-bench-dev-'))
  dirs.add(dir)
  const file = join(dir, 'server.mjs')
  // In place, as most editors save by default: one write of the whole file.
  const write = (version) => writeFileSync(file, withVersion(template, version))
  write(0)
  const port = await freePort()
  const url = `http://${host}:${port}/`
  const samples = []
  const lines = []
  let proc
  let recorder
  try {
    const { script, args = [], nodeArgs = [] } = spec.command(port)
    // Its own process group, so whatever it spawns is found again at the stop.
    proc = new Proc(script, {
      args,
      nodeArgs,
      cwd: dir,
      detached: true,
      env: { PORT: String(port), HOST: host, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` }
    })
    proc.label = spec.label
    let exited
    proc.exited.then((e) => { exited = e })
    const first = await Promise.race([untilVersion(url, 0, 20_000), proc.exited.then(() => 'exited')])
    if (first === undefined || first === 'exited') {
      throw new Error(`${spec.label} ${first === 'exited' ? 'exited' : 'did not serve within 20 s'} after its start:\n  ${proc.lines.slice(-10).join('\n  ')}`)
    }
    row.startMs = round(first.end - proc.startedAt)
    recorder = new Recorder(url, { connections, slowShare, slow, timeout }).start()
    let n = 0
    status('', () => `dev · ${spec.label}${rounds > 1 ? ` · round ${r}/${rounds}` : ''} · save ${n}/${saves} · ${fmt(recorder.count)} requests · ${fmt(recorder.failed)} failed`)
    await sleep(lead)
    for (n = 1; n <= saves; n++) {
      const from = proc.lines.length
      const cursor = recorder.count
      // The tool's own lines about this save, if it says them within the save's time.
      const noticed = proc.waitFor(spec.noticed, { from, ms: saveTimeout }).then((m) => m.at, () => undefined)
      const ready = spec.ready === undefined ? undefined : proc.waitFor(spec.ready, { from, ms: saveTimeout }).then((m) => Number(m.match[1]), () => undefined)
      write(n)
      const at = now()
      const answer = await firstWith(recorder.outcomes, n, cursor, at + saveTimeout)
      const sample = { version: n, at, firstAt: answer?.end, ms: answer === undefined ? undefined : round(answer.end - at), pid: answer?.pid }
      samples.push(sample)
      lines.push(Promise.all([noticed, ready]).then(([noticedAt, readyMs]) => {
        sample.noticed = noticedAt === undefined ? undefined : round(noticedAt - at)
        sample.readyMs = readyMs
      }))
      if (exited !== undefined) throw new Error(`${spec.label} exited (${exited.signal ?? `code ${exited.code}`}) at save ${n}:\n  ${proc.lines.slice(-10).join('\n  ')}`)
      // A system that no longer serves new code would make every save wait out its time: 3 in a row end its run.
      if (samples.length >= 3 && samples.slice(-3).every((x) => x.ms === undefined)) {
        throw new Error(`3 saves in a row not served within ${saveTimeout} ms:\n  ${proc.lines.slice(-10).join('\n  ')}`)
      }
      await sleep(Math.max(interval - (now() - at), answer === undefined ? 0 : serve - (now() - answer.end)))
    }
    n = saves
    await sleep(tail)
  } catch (err) {
    row.error = err.message
  } finally {
    clear()
    if (recorder !== undefined) await recorder.stop()
    if (proc !== undefined) {
      const answered = recorder === undefined ? [] : [...new Set(recorder.outcomes.pid)].filter((pid) => pid > 0)
      const { left, ms } = await stopTree(proc, answered)
      row.leftover = left
      row.stopMs = ms
    }
    await Promise.all(lines)
    rmSync(dir, { recursive: true, force: true })
    dirs.delete(dir)
  }
  row.saves = samples.length
  row.samples = samples.map(({ at, firstAt, ...s }) => s)
  if (recorder === undefined) return row
  const o = recorder.outcomes
  // The pids that answered each version, for the analysis of what happened around each save.
  const pidsOf = new Map()
  for (let i = 0; i < o.count; i++) {
    if (o.ver[i] <= 0) continue
    if (!pidsOf.has(o.ver[i])) pidsOf.set(o.ver[i], new Set())
    pidsOf.get(o.ver[i]).add(o.pid[i])
  }
  const events = samples.map((s) => ({ at: s.at, readyAt: s.firstAt ?? s.at, oldPids: [], newPids: [...(pidsOf.get(s.version) ?? [])] }))
  const a = analyse(o, events, { startedAt: recorder.startedAt, stoppedAt: recorder.stoppedAt, timeout })
  // Old code after the new: answers with an older version to requests that started after the new version's
  // first answer (and before the next save).
  let stale = 0
  for (const [k, s] of samples.entries()) {
    if (s.firstAt === undefined) continue
    const until = samples[k + 1]?.at ?? Infinity
    for (let i = 0; i < o.count; i++) {
      if (o.t[i] > s.firstAt && o.t[i] < until && o.out[i] >= 200 && o.ver[i] < s.version) stale++
    }
  }
  const okMs = []
  for (let i = 0; i < o.count; i++) if (o.out[i] >= 0) okMs.push(o.ms[i])
  Object.assign(row, {
    stale,
    requests: a.requests,
    seconds: a.seconds,
    failed: a.failed,
    failedByKind: a.failedByKind,
    non2xx: a.non2xx,
    non2xxByStatus: a.non2xxByStatus,
    okMs,
    longestGap: a.longestGap,
    pids: a.generations
  })
  return row
}
