// What the keeper tests share: starting `reload run` with the plain app, and the `reload` command line.
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { logArrivals, request, root, startProcess, tempDir, which, type Fixture, type Outcome, type StartOptions } from '@reload/test-helpers'

export const reloadBin = join(root, 'packages/cli/bin/reload.cjs')
export const plainApp = join(root, 'test/keeper/fixtures/plain-app.js')

export interface Keeper {
  fixture: Fixture
  /** The keeper's pid: the one that never changes. */
  pid: number
  url: string
  port: number
  /** Its control socket, private to the test. */
  control: string
  dir: string
  /** Sets what the next workers do at start (see fixtures/plain-app.js). */
  behave: (behaviour: 'ok' | 'fail' | 'crash' | 'hang') => void
}

/**
 * Starts `reload run --listen 127.0.0.1:0 <flags> -- node <app>` and waits until its first workers are ready.
 * Workers get the arrivals preload, so `fixture.inFlight()` works.
 */
export async function startKeeper (flags: string[] = [], { app = plainApp, env = {}, command, ready = true, behaviour }: { app?: string, env?: Record<string, string>, command?: string[], ready?: boolean, behaviour?: string } = {}): Promise<Keeper> {
  const dir = tempDir()
  const control = join(dir, 'control.sock')
  const behaviourFile = join(dir, 'behaviour')
  if (behaviour !== undefined) writeFileSync(behaviourFile, behaviour)
  const listen = flags.some((f) => f.startsWith('--listen')) ? [] : ['--listen', '127.0.0.1:0']
  const fixture = startProcess(reloadBin, {
    args: ['run', ...listen, '--control', control, ...flags, '--', ...(command ?? [process.execPath, '--import', logArrivals, app])],
    env: { HOST: '127.0.0.1', PORT: '0', BEHAVIOUR_FILE: behaviourFile, ...env }
  } satisfies StartOptions)
  const keeper = {
    fixture,
    pid: fixture.child.pid as number,
    url: '',
    port: 0,
    control,
    dir,
    behave: (behaviour: string) => writeFileSync(behaviourFile, behaviour)
  }
  if (!ready) return keeper
  const { match } = await fixture.waitFor(/ready on (?:127\.0\.0\.1|\[::1?\]):(\d+)/, { timeout: 20_000 })
  keeper.port = Number(match[1])
  keeper.url = `http://127.0.0.1:${keeper.port}`
  return keeper
}

/** Worker pids the keeper announced, in order, with their generation. */
export function workers (fixture: Fixture): Array<{ pid: number, generation: number, slot: number }> {
  return fixture.lines.flatMap(({ text }) => {
    const m = /starting worker (\d+) \(worker=(\d+) generation=(\d+)\)/.exec(text)
    return m === null ? [] : [{ slot: Number(m[1]), pid: Number(m[2]), generation: Number(m[3]) }]
  })
}

/** Runs `reload <args>`; resolves with its exit code and output (kills it after `timeout`). */
export function cli (args: string[], { env = {}, timeout = 30_000 }: { env?: Record<string, string>, timeout?: number } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [reloadBin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`reload ${args.join(' ')} still runs after ${timeout} ms:\n${stdout}${stderr}`)) }, timeout)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/** What `reload status --json` says of the keeper at `control`; throws with its output when it fails. */
export async function status (control: string): Promise<Record<string, any>> {
  const { code, stdout, stderr } = await cli(['status', '--json', '--control', control])
  if (code !== 0) throw new Error(`reload status exited ${code ?? '?'}: ${stderr}`)
  return JSON.parse(stdout) as Record<string, unknown>
}

/**
 * Sends requests on new connections, kept open, until every pid of `pids` has answered (resolves with each one's
 * first answer); throws after `timeout`. Open, because with more than one worker the keeper hands each new connection to the worker
 * with the fewest open: one that holds a load's keep-alive connections gets new ones only once the others
 * hold as many.
 */
export async function answeredBy (url: string, pids: number[], timeout = 15_000): Promise<Map<number, Outcome>> {
  const want = new Set(pids)
  const first = new Map<number, Outcome>()
  const deadline = Date.now() + timeout
  const agents: http.Agent[] = []
  try {
    while (want.size > 0) {
      if (Date.now() > deadline) throw new Error(`no answer from pid ${[...want].join(', ')} within ${timeout} ms`)
      // A new agent each time: the sockets of the last ones stay open, and are not reused.
      const agent = new http.Agent({ keepAlive: true })
      agents.push(agent)
      const outcomes = await Promise.all(Array.from({ length: 4 }, async () => await request(url, { agent })))
      for (const outcome of outcomes) {
        if (outcome.pid === undefined || !want.has(outcome.pid)) continue
        want.delete(outcome.pid)
        first.set(outcome.pid, outcome)
      }
    }
  } finally {
    for (const agent of agents) agent.destroy()
  }
  return first
}

/**
 * Runs `command` as pid 1 of a new PID namespace (`unshare --pid --fork --kill-child`): killing the fixture
 * (unshare) kills the namespace. The pids printed inside are the namespace's own, so the fixture never
 * collects (or kills) them. `pidOne()` is that pid 1 as seen from here, to signal it.
 */
export function inPidNamespace (command: string[], env: Record<string, string>): { fixture: Fixture, pidOne: () => number } {
  const fixture = startProcess('', {
    command: which('unshare') as string,
    args: ['--pid', '--fork', '--kill-child', '--mount-proc', ...command],
    env
  })
  const unshare = fixture.child.pid as number
  fixture.pids.add = (pid: number) => pid === unshare ? Set.prototype.add.call(fixture.pids, pid) as Set<number> : fixture.pids
  const pidOne = (): number => Number(readFileSync(`/proc/${unshare}/task/${unshare}/children`, 'utf8').trim().split(/\s+/)[0])
  return { fixture, pidOne }
}
