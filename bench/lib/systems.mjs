// The three ways to deploy new code under load that the bench compares, behind one shape:
// start(), reload() -> { at, readyAt, oldPids, newPids, oldExitAt? }, stop() -> pids left alive.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { exitOf, isAlive, now, Proc, signal, sleep, started, waitGone } from './procs.mjs'

const host = '127.0.0.1'

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
    const { match } = await started(this.proc, /generation 1 ready \(pid=(\d+)/)
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
    const { match, at: readyAt } = await this.proc.waitFor(new RegExp(`generation ${generation} ready \\(pid=(\\d+)`),
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
      const match = /generation (\d+) ready; pid \d+ drains \(pid=\d+ ms=(\d+)/.exec(line)
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

/**
 * PM2 in cluster mode, the way its docs say to reload without downtime: `wait_ready` with
 * `process.send('ready')`, a SIGINT handler that closes the server, `pm2 reload`.
 */
export class Pm2 {
  static label = 'PM2 reload'
  static settings = { instances: 1, listen_timeout: 10_000, kill_timeout: 1600 }
  pids = []

  constructor ({ app, port, name }) {
    this.app = app
    this.port = port
    this.name = name ?? `bench-${basename(app, '.mjs')}-${port}`
  }

  async #pids () {
    const list = await pm2.describe(this.name)
    return list.map((p) => p.pid).filter((pid) => pid > 0)
  }

  async start () {
    await pm2Api()
    await pm2.start({
      name: this.name,
      script: this.app,
      cwd: dirname(this.app),
      exec_mode: 'cluster',
      wait_ready: true,
      ...Pm2.settings,
      env: { PORT: String(this.port), HOST: host },
      out_file: '/dev/null',
      error_file: '/dev/null'
    })
    const deadline = now() + 20_000
    let pids = []
    while (pids.length < Pm2.settings.instances && now() < deadline) {
      pids = await this.#pids()
      if (pids.length < Pm2.settings.instances) await sleep(50)
    }
    if (pids.length === 0) throw new Error(`PM2 did not start ${this.app}`)
    this.current = pids
    this.pids.push(...pids)
    return pids[0]
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

  async stop () {
    try { await pm2.delete(this.name) } catch {}
    return stopAll(this.pids, 'SIGKILL', 5000)
  }
}
