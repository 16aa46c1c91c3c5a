// Part 7, dev mode: `reload dev` (ours) against nodemon and `node --watch`, each running the same plain app
// (bench/apps/dev.mjs, no reload code) from a folder of its own, under the recorder's keep-alive load,
// through a series of saves: each a rewrite of the file with the next version in its answer. Per system:
// failed requests by kind, and each save's time from the write to the first answer carrying the new version.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clear, status } from './progress.mjs'
import { freePort, isAlive, now, Proc, signal, sleep, tree, waitGone } from './procs.mjs'
import { get, Recorder } from './recorder.mjs'
import { analyse, quantile, round, spread } from './stats.mjs'
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

/**
 * Every system in `systems`, one after the other, through `saves` saves each. See {@link devOne}. Adds the
 * ratios of ours to each other system.
 */
export async function dev ({ systems, ...options }) {
  const template = readFileSync(devApp, 'utf8')
  withVersion(template, 0)
  const rows = []
  for (const system of systems) rows.push(await devOne({ ...options, system, template }))
  const ours = rows.find((r) => r.system === 'ours')
  const ratios = []
  if (ours?.toNew?.n > 0) {
    for (const r of rows) {
      if (r === ours || !(r.toNew?.n > 0)) continue
      const ratio = (a, b) => (a !== undefined && b > 0 ? round(a / b, 2) : undefined)
      ratios.push({
        system: r.system,
        label: r.label,
        median: ratio(ours.toNew.median, r.toNew.median),
        p90: ratio(ours.toNew.p90, r.toNew.p90),
        failed: { ours: ours.failed, theirs: r.failed, ratio: ratio(ours.failed, r.failed) },
        longestGap: ratio(ours.longestGap, r.longestGap)
      })
    }
  }
  return { rows, ratios }
}

/**
 * One system under the recorder's keep-alive load through `saves` saves. Each save rewrites server.mjs in
 * place with the next version; the next save comes `interval` ms after it, or `serve` ms after the new
 * version's first answer if that is later, so each save is measured alone and each version serves a while.
 * A save whose version has not answered within `saveTimeout` ms counts as not served, and the next one comes.
 */
async function devOne ({ system, template, saves, interval, serve, saveTimeout, connections, slowShare, slow, timeout = 5000, lead = 1000, tail = 1000 }) {
  const spec = devSystems[system]
  const row = { system, label: spec.label, savesAsked: saves }
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
    status('', () => `dev · ${spec.label} · save ${n}/${saves} · ${fmt(recorder.count)} requests · ${fmt(recorder.failed)} failed`)
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
  Object.assign(row, {
    served: samples.filter((s) => s.ms !== undefined).length,
    notServed: samples.filter((s) => s.ms === undefined).map((s) => s.version),
    toNew: summary(samples.map((s) => s.ms)),
    noticed: summary(samples.map((s) => s.noticed)),
    readyMs: spec.ready === undefined ? undefined : summary(samples.map((s) => s.readyMs), 0),
    stale,
    requests: a.requests,
    rps: a.rps,
    failed: a.failed,
    failedByKind: a.failedByKind,
    non2xx: a.non2xx,
    non2xxByStatus: a.non2xxByStatus,
    latency: a.latency,
    afterSave: a.afterReload,
    longestGap: a.longestGap,
    pids: a.generations
  })
  return row
}
