// Processes the bench starts, found again by a mark in their environment, so none is left behind:
// a reloaded app's later generations are not our children, and PM2's daemon and workers are not either.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { performance } from 'node:perf_hooks'

const MARK = 'RELOAD_BENCH_RUN'
/** This run's mark; every process the bench starts inherits it through the environment. */
export const runId = `${process.pid}-${Date.now()}`
process.env[MARK] = runId

export const now = () => performance.now()
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Whether `pid` runs. A zombie does not: here pid 1 is slow to reap orphans. */
export function isAlive (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat[stat.lastIndexOf(')') + 2]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** Open file descriptors of `pid`, or undefined once it is gone. */
export function fdCount (pid) {
  try { return readdirSync(`/proc/${pid}/fd`).length } catch { return undefined }
}

/** Resident set size of `pid` in MB, or undefined once it is gone. */
export function rssMb (pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
    return Number.isFinite(kb) ? kb / 1024 : undefined
  } catch {
    return undefined
  }
}

/** The pids of every live process under `pid` (children, their children, …), from /proc. */
export function descendants (pid) {
  const children = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (!children.has(ppid)) children.set(ppid, [])
      children.get(ppid).push(Number(name))
    } catch {}
  }
  const found = []
  const queue = [pid]
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()) ?? []) {
      if (!isAlive(child)) continue
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

/**
 * `pid`, every live process under it, and every live process of this run in its process group (`pid` is
 * the leader of a group the bench created, `detached` in {@link Proc}), whose parent may be gone.
 */
export function tree (pid) {
  const pids = new Set([pid, ...descendants(pid)])
  for (const other of marked()) {
    try {
      const stat = readFileSync(`/proc/${other}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pid) pids.add(other)
    } catch {}
  }
  return [...pids].filter(isAlive)
}

/** Live processes of this run, but the bench itself. */
export function marked () {
  const pids = []
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1')
      if (env.includes(`\0${MARK}=${runId}\0`) || env.startsWith(`${MARK}=${runId}\0`)) {
        if (isAlive(pid)) pids.push(pid)
      }
    } catch {}
  }
  return pids
}

/** Sends `signal` to `pid`; false when it is already gone. */
export function signal (pid, sig) {
  try { process.kill(pid, sig); return true } catch { return false }
}

const watched = new Map()
let watcher

/** Resolves with the time `pid` was first seen gone, polled every 5 ms. */
export function exitOf (pid) {
  let entry = watched.get(pid)
  if (entry !== undefined) return entry.promise
  entry = {}
  entry.promise = new Promise((resolve) => { entry.resolve = resolve })
  watched.set(pid, entry)
  watcher ??= setInterval(() => {
    const t = now()
    for (const [p, e] of watched) {
      if (e.done || isAlive(p)) continue
      e.done = true
      e.resolve(t)
    }
    if ([...watched.values()].every((e) => e.done)) {
      clearInterval(watcher)
      watcher = undefined
      watched.clear()
    }
  }, 5)
  return entry.promise
}

/** Waits until every pid is gone, up to `ms`; returns the ones still alive. */
export async function waitGone (pids, ms) {
  const deadline = now() + ms
  while (now() < deadline) {
    if (pids.every((pid) => !isAlive(pid))) return []
    await sleep(10)
  }
  return pids.filter(isAlive)
}

/**
 * Kills what this run left alive (SIGTERM, then SIGKILL after `grace`), each by pid.
 * Returns the pids found, with their command lines, so the report can name them.
 */
export async function sweep (grace = 2000) {
  const found = marked().map((pid) => ({ pid, cmd: cmdline(pid) }))
  for (const { pid } of found) signal(pid, 'SIGTERM')
  const left = await waitGone(found.map((f) => f.pid), grace)
  for (const pid of left) signal(pid, 'SIGKILL')
  await waitGone(left, 2000)
  return found
}

function cmdline (pid) {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() } catch { return '?' }
}

/** A free TCP port on 127.0.0.1 (the kernel's pick, released at once). */
export function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * A node process with its output kept as lines (stdout and stderr together), which can be waited on.
 * Later generations of a reloaded app inherit its stdout and stderr, so their lines arrive here too.
 * `nodeArgs` go to node before the script (`--watch`); `detached` makes it the leader of a process group of
 * its own, so what it spawns can be found again (see {@link tree}) after it is gone.
 */
export class Proc {
  lines = []
  #waiters = new Set()

  constructor (script, { env = {}, args = [], nodeArgs = [], cwd, detached = false } = {}) {
    this.startedAt = now()
    this.child = spawn(process.execPath, [...nodeArgs, script, ...args], { cwd, detached, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.pid = this.child.pid
    this.exited = new Promise((resolve) => this.child.once('exit', (code, sig) => resolve({ code, signal: sig, at: now() })))
    this.child.once('error', (err) => this.#push(`spawn error: ${err.message}`))
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buffer = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk) => {
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n')) !== -1) {
          this.#push(buffer.slice(0, end))
          buffer = buffer.slice(end + 1)
        }
      })
    }
  }

  #push (line) {
    this.lines.push(line)
    for (const waiter of this.#waiters) waiter(line)
  }

  /**
   * Resolves with the match of the first line (already seen from index `from`, or to come) that matches
   * `re`, and the time it arrived; rejects on a line matching `fail`, or after `ms`.
   */
  waitFor (re, { ms = 15000, fail, from } = {}) {
    return new Promise((resolve, reject) => {
      const check = (line) => {
        const match = re.exec(line)
        if (match !== null) { done(); resolve({ match, at: now() }); return true }
        if (fail !== undefined && fail.test(line)) { done(); reject(new Error(`${line} (waiting for ${re})`)); return true }
        return false
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no line matching ${re} within ${ms} ms; last lines:\n  ${this.lines.slice(-8).join('\n  ')}`))
      }, ms)
      const done = () => { clearTimeout(timer); this.#waiters.delete(check) }
      if (from !== undefined && this.lines.slice(from).some(check)) return
      this.#waiters.add(check)
    })
  }
}

/** Waits for `proc`'s line matching `re`; rejects with its last lines if it exits first. */
export function started (proc, re, ms = 20_000) {
  const exited = proc.exited.then(({ code, signal: sig }) => {
    throw new Error(`${proc.label ?? 'process'} exited (${sig ?? `code ${code}`}) before it was ready:\n  ${proc.lines.slice(-10).join('\n  ')}`)
  })
  return Promise.race([proc.waitFor(re, { ms }), exited])
}
