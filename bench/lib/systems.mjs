// The three ways to deploy new code under load that the bench compares, behind one shape:
// start(), reload() -> { at, readyAt, oldPids, newPids, oldExitAt? }, stop() -> pids left alive.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { exitOf, isAlive, now, Proc, signal, sleep, started, waitGone } from './procs.mjs'
import { get } from './recorder.mjs'

const host = '127.0.0.1'
/** The `reload` command of @reload/cli, run with this Node. */
export const reloadBin = fileURLToPath(new URL('../../packages/cli/bin/reload.cjs', import.meta.url))

/**
 * Polls `url` (one GET on a fresh connection every 10 ms) until each of `pids` has answered, up to `ms`:
 * a server whose workers are all serving, so a load that starts now measures the system, not its start.
 * Returns the pids that never answered.
 */
export async function whenServing (url, pids, ms = 10_000) {
  const missing = new Set(pids)
  const deadline = now() + ms
  while (missing.size > 0 && now() < deadline) {
    const r = await get(url, 1000)
    if (r.status >= 200 && r.status <= 299) missing.delete(r.pid)
    if (missing.size > 0) await sleep(10)
  }
  return [...missing]
}

async function stopAll (pids, sig, ms = 15_000) {
  for (const pid of pids) if (isAlive(pid)) signal(pid, sig)
  const left = await waitGone(pids, ms)
  for (const pid of left) signal(pid, 'SIGKILL')
  await waitGone(left, 2000)
  return left
}

/** Ours: the example with reload, `kill -HUP` to the generation that serves. */
export class Ours {
  static label = 'reload (ours)'
  pids = []

  constructor ({ script, port }) {
    this.script = script
    this.port = port
  }

  async start () {
    this.proc = new Proc(this.script, { env: { PORT: String(this.port), HOST: host }, cwd: dirname(this.script) })
    this.proc.label = this.script
    const { match } = await started(this.proc, /^reload\[(\d+)\]: generation 1 ready \(/)
    this.generation = 1
    this.pid = Number(match[1])
    this.pids.push(this.pid)
    return this.pid
  }

  async reload () {
    const old = this.pid
    const from = this.proc.lines.length
    const generation = this.generation + 1
    const at = now()
    signal(old, 'SIGHUP')
    const { match, at: readyAt } = await this.proc.waitFor(new RegExp(`^reload\\[(\\d+)\\]: generation ${generation} ready \\(`),
      { ms: 30_000, from, fail: /handover failed|ignored/ })
    this.generation = generation
    this.pid = Number(match[1])
    this.pids.push(this.pid)
    return { at, readyAt, generation, oldPids: [old], newPids: [this.pid], oldExit: exitOf(old) }
  }

  /** Spawn-to-ready of each handover as the core logged it, by generation. */
  coreMs () {
    const ms = {}
    for (const line of this.proc.lines) {
      const match = /generation (\d+) ready; pid \d+ drains \(child=\d+ ms=(\d+)/.exec(line)
      if (match !== null) ms[match[1]] = Number(match[2])
    }
    return ms
  }

  async stop () {
    return stopAll([...this.pids].reverse(), 'SIGTERM')
  }
}

/** A naive restart: the plain app, SIGTERM (it ends at once), then `node app.js` again. */
export class Naive {
  static label = 'naive restart'
  pids = []

  constructor ({ app, port }) {
    this.app = app
    this.port = port
  }

  async start () {
    this.proc = new Proc(this.app, { env: { PORT: String(this.port), HOST: host }, cwd: dirname(this.app) })
    this.proc.label = this.app
    await started(this.proc, /^listening on /)
    this.pid = this.proc.pid
    this.pids.push(this.pid)
    return this.pid
  }

  async reload () {
    const old = this.proc
    const at = now()
    signal(old.pid, 'SIGTERM')
    let exit = await Promise.race([old.exited, sleep(10_000)])
    if (exit === undefined) {
      signal(old.pid, 'SIGKILL')
      exit = await old.exited
    }
    await this.start()
    return { at, readyAt: now(), oldPids: [old.pid], newPids: [this.pid], oldExit: Promise.resolve(exit.at) }
  }

  async stop () {
    return stopAll(this.pids, 'SIGTERM')
  }
}

/** The escaped text of `s` for a RegExp. */
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Ours under the keeper: `reload run --listen 127.0.0.1:PORT --workers N -- node app.mjs`, the plain app
 * (no reload code: the keeper preloads @reload/core/register). `reload()` rolls the workers over with
 * `reload reload --wait` (`via: 'cli'`) or `kill -HUP` to the keeper (`via: 'hup'`), and resolves at the
 * keeper's `generation N serves` line; `kill()` SIGKILLs one worker and resolves (`ready`) at the keeper's
 * `worker N serves again` line.
 */
export class Keeper {
  static label = 'reload run (ours)'
  /** The serving workers, by slot (index 0 is worker 1). */
  current = []
  generation = 1

  constructor ({ app, port, workers = 1, plain = false, via = 'cli', label }) {
    this.app = app
    this.port = port
    this.workers = workers
    this.plain = plain
    this.via = via
    this.label = label ?? Keeper.label
  }

  /** The keeper's pid. */
  get pid () { return this.proc?.pid }

  /** Every worker pid the keeper has started so far (from its `starting worker` lines), and the keeper's. */
  get pids () {
    const pids = this.proc === undefined ? [] : [this.proc.pid]
    for (const line of this.proc?.lines ?? []) {
      const match = this.#keeper(line, /starting worker \d+ \(worker=(\d+) /)
      if (match !== null) pids.push(Number(match[1]))
    }
    return pids
  }

  // The keeper's own lines start `reload[<keeper pid>]:` (with `warn:` or `error:` after it at those levels);
  // its workers' lines arrive on the same pipes with their own pids.
  #keeper (line, re) {
    return line.startsWith(this.tag) ? re.exec(line.slice(this.tag.length)) : null
  }

  #line (re) {
    return new RegExp(`^${esc(this.tag)}(?:\\w+: )?${re}`)
  }

  async start () {
    this.dir = mkdtempSync(join(tmpdir(), 'reload-bench-keeper-'))
    // A control socket of its own: `reload reload` must reach this keeper, whatever else runs on the machine.
    this.control = join(this.dir, 'control.sock')
    const args = ['run', '--listen', `${host}:${this.port}`, '--workers', String(this.workers), '--control', this.control, '--', process.execPath, this.app]
    const env = { PORT: String(this.port), HOST: host, ...(this.plain && { BENCH_PLAIN: '1' }) }
    this.proc = new Proc(reloadBin, { args, env, cwd: dirname(this.app) })
    this.proc.label = `reload run ${basename(this.app)}`
    this.tag = `reload[${this.proc.pid}]: `
    const { match, at } = await started(this.proc, this.#line('(?:\\d+ workers|worker) ready on \\S+ \\(ms=(\\d+) workers=([\\d,]+)\\)'))
    this.readyAt = at
    this.current = match[2].split(',').map(Number)
    return this.proc.pid
  }

  async reload () {
    const old = [...this.current]
    const generation = this.generation + 1
    const serves = this.proc.waitFor(this.#line(`generation ${generation} serves \\(generation=${generation} ms=(\\d+) workers=([\\d,]+)\\)`),
      { ms: 60_000, from: this.proc.lines.length, fail: this.#line('(?:reload failed|roll abandoned)') })
    const at = now()
    let cli
    if (this.via === 'hup') signal(this.proc.pid, 'SIGHUP')
    else cli = run(reloadBin, ['reload', '--wait', '--control', this.control])
    const { match, at: readyAt } = await serves
    const answer = await cli
    if (answer !== undefined && (answer.code !== 0 || !/generation \d+ serves/.test(answer.out))) {
      throw new Error(`reload reload --wait exited with ${answer.code}: ${answer.out.trim()}`)
    }
    this.generation = generation
    this.current = match[2].split(',').map(Number)
    return {
      at,
      readyAt,
      generation,
      keeperMs: Number(match[1]),
      cliMs: answer === undefined ? undefined : answer.at - at,
      oldPids: old,
      newPids: [...this.current],
      oldExit: Promise.all(old.map(exitOf)).then((t) => Math.max(...t))
    }
  }

  /**
   * SIGKILLs worker `slot`: resolves at once with `{ at, pid, exit }`, and `ready`, which resolves with
   * `{ pid, at, wait }` once the keeper says a replacement serves (`wait`: the backoff it announced).
   */
  kill (slot = 1) {
    const old = this.current[slot - 1]
    const from = this.proc.lines.length
    const crashed = this.proc.waitFor(this.#line(`.*\\(worker=${old}(?: crashes=\\d+)? wait=(\\d+)\\)`), { ms: 30_000, from })
    const back = this.proc.waitFor(this.#line(`worker ${slot} serves again \\(worker=(\\d+) generation=\\d+\\)`), { ms: 30_000, from })
    const at = now()
    signal(old, 'SIGKILL')
    const ready = Promise.all([crashed, back]).then(([c, b]) => {
      this.current[slot - 1] = Number(b.match[1])
      return { pid: Number(b.match[1]), at: b.at, wait: Number(c.match[1]) }
    })
    return { at, pid: old, exit: exitOf(old), ready }
  }

  /** SIGTERM to the keeper, which drains its workers; whatever is left after 15 s is killed. */
  async stop () {
    if (this.proc === undefined) return []
    const pids = this.pids
    signal(this.proc.pid, 'SIGTERM')
    const left = await waitGone(pids, 15_000)
    for (const pid of left) signal(pid, 'SIGKILL')
    await waitGone(left, 2000)
    rmSync(this.dir, { recursive: true, force: true })
    return left
  }
}

/** Runs `node script ...args` to its end: `{ code, out, at }` (stdout and stderr together, the time it ended). */
function run (script, args, ms = 60_000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => { out += chunk })
    const timer = setTimeout(() => child.kill('SIGKILL'), ms)
    child.once('error', (err) => { out += err.message })
    child.once('close', (code, sig) => { clearTimeout(timer); resolve({ code: code ?? sig, out, at: now() }) })
  })
}

let api
let pm2
let pm2Home

async function pm2Api () {
  if (pm2 !== undefined) return pm2
  if (api === undefined) {
    // PM2 reads its home once, when it is first loaded: set it first, so the user's ~/.pm2 is never touched.
    pm2Home = mkdtempSync(join(tmpdir(), 'reload-bench-pm2-'))
    process.env.PM2_HOME = pm2Home
    api = (await import('pm2')).default
  }
  const call = (name) => promisify(api[name].bind(api))
  const connected = {
    start: call('start'),
    reload: call('reload'),
    describe: call('describe'),
    delete: call('delete'),
    killDaemon: call('killDaemon'),
    disconnect: () => api.disconnect()
  }
  await call('connect')()
  pm2 = connected
  return pm2
}

/**
 * Stops PM2's daemon if the bench started it (by pid, once PM2's own kill has answered), and with
 * `removeHome` deletes its home. Safe to call more than once.
 */
export async function killPm2 ({ removeHome = false } = {}) {
  if (pm2 !== undefined) {
    const connected = pm2
    pm2 = undefined
    let daemon
    try { daemon = Number(readFileSync(join(pm2Home, 'pm2.pid'), 'utf8')) } catch {}
    try {
      await Promise.race([connected.killDaemon(), sleep(10_000)])
    } catch {}
    try { connected.disconnect() } catch {}
    // killDaemon answers before the daemon is gone.
    if (daemon > 0) await stopAll([daemon], 'SIGTERM', 5000)
  }
  if (removeHome && pm2Home !== undefined) rmSync(pm2Home, { recursive: true, force: true })
}

/** The pid of PM2's daemon (its God process, the cluster primary of its cluster-mode apps), once started. */
export function pm2Daemon () {
  try { return Number(readFileSync(join(pm2Home, 'pm2.pid'), 'utf8')) } catch { return undefined }
}

/**
 * PM2 in cluster mode, the way its docs say to reload without downtime: `wait_ready` with
 * `process.send('ready')`, a SIGINT handler that closes the server, `pm2 reload`. The keeper part also runs
 * it in fork mode (`mode: 'fork'`), with N instances, and with the plain app (`plain`: no `wait_ready`, the
 * app without its `ready` message and SIGINT handler). `kill()` SIGKILLs one instance; PM2 restarts it.
 */
export class Pm2 {
  static label = 'PM2 reload'
  static settings = { instances: 1, listen_timeout: 10_000, kill_timeout: 1600 }
  pids = []

  constructor ({ app, port, name, instances, mode = 'cluster', plain = false, label }) {
    this.app = app
    this.port = port
    this.name = name ?? `bench-${basename(app, '.mjs')}-${port}`
    this.mode = mode
    this.plain = plain
    this.settings = { ...Pm2.settings, ...(instances !== undefined && { instances }), ...(mode === 'fork' && { instances: 1 }) }
    this.label = label ?? Pm2.label
  }

  async #pids (online = false) {
    const list = await pm2.describe(this.name)
    return list.filter((p) => !online || p.pm2_env?.status === 'online').map((p) => p.pid).filter((pid) => pid > 0)
  }

  async start () {
    await pm2Api()
    await pm2.start({
      name: this.name,
      script: this.app,
      cwd: dirname(this.app),
      exec_mode: this.mode,
      wait_ready: !this.plain,
      autorestart: true,
      ...this.settings,
      env: { PORT: String(this.port), HOST: host, ...(this.plain && { BENCH_PLAIN: '1' }) },
      out_file: '/dev/null',
      error_file: '/dev/null'
    })
    const deadline = now() + 20_000
    let pids = []
    while (pids.length < this.settings.instances && now() < deadline) {
      pids = await this.#pids()
      if (pids.length < this.settings.instances) await sleep(50)
    }
    if (pids.length === 0) throw new Error(`PM2 did not start ${this.app}`)
    this.current = pids
    this.pids.push(...pids)
    return pids[0]
  }

  /** Resolves once every instance answers on `url` (PM2 says it started them before they listen). */
  async whenServing (url) {
    const missing = await whenServing(url, this.current)
    if (missing.length > 0) throw new Error(`PM2 instances ${missing.join(', ')} did not answer within 10 s`)
  }

  async reload () {
    const old = this.current
    const exits = old.map(exitOf)
    const at = now()
    await pm2.reload(this.name)
    const readyAt = now()
    this.current = await this.#pids()
    this.pids.push(...this.current)
    return { at, readyAt, oldPids: old, newPids: this.current, oldExit: Promise.all(exits).then((t) => Math.max(...t)) }
  }

  /**
   * SIGKILLs instance `index`: resolves at once with `{ at, pid, exit }`, and `ready`, which resolves with
   * `{ pid, at }` once PM2 lists a new pid online in its place (asked every 20 ms).
   */
  kill (index = 0) {
    const old = this.current[index]
    const at = now()
    signal(old, 'SIGKILL')
    const ready = (async () => {
      const deadline = now() + 30_000
      while (now() < deadline) {
        const pids = await this.#pids(true)
        const fresh = pids.filter((pid) => !this.current.includes(pid))
        if (fresh.length > 0 && pids.length >= this.current.length) {
          this.current = pids
          this.pids.push(...fresh)
          return { pid: fresh[0], at: now() }
        }
        await sleep(20)
      }
      throw new Error(`PM2 did not restart pid ${old} within 30 s`)
    })()
    return { at, pid: old, exit: exitOf(old), ready }
  }

  async stop () {
    try { await pm2.delete(this.name) } catch {}
    return stopAll(this.pids, 'SIGKILL', 5000)
  }
}
