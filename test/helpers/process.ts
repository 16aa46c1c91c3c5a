import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, extname, join } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { request, type Outcome, type RequestOptions } from './http.js'
import { until } from './until.js'

/** The repository root, for paths to examples and fixtures. */
export const root = fileURLToPath(new URL('../../', import.meta.url))

/** The preload that makes a server print `request <url> pid=<pid>` for a request marked with `arrival=<id>`. */
export const logArrivals = fileURLToPath(new URL('log-arrivals.js', import.meta.url))

let arrivals = 0

/** `url` with a query parameter `arrival=<id>` unique in this test run, and that id. */
export function marked (url: string): { url: string, id: string } {
  const id = `${process.pid}-${++arrivals}`
  return { url: `${url}${url.includes('?') ? '&' : '?'}arrival=${id}`, id }
}

export interface Line { text: string, at: number }

/**
 * A server process and every generation it hands over to. All generations share its stdout and stderr,
 * so their lines arrive here in one stream. `close()` kills every pid it has seen.
 */
export class Fixture {
  readonly child: ChildProcess
  readonly lines: Line[] = []
  /** Every pid that announced itself: generations, and children that started. */
  readonly pids = new Set<number>()
  #waiters = new Set<() => void>()
  exit: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (child: ChildProcess) {
    this.child = child
    if (child.pid !== undefined) this.pids.add(child.pid)
    // Each stream keeps its own unfinished line: a chunk of one that ends mid-line must not take in the other's.
    const reader = (): (chunk: Buffer) => void => {
      let partial = ''
      return (chunk) => {
        partial += chunk.toString('utf8')
        const parts = partial.split('\n')
        partial = parts.pop() ?? ''
        for (const text of parts) this.#add(text)
      }
    }
    child.stdout?.on('data', reader())
    child.stderr?.on('data', reader())
    this.exit = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  }

  #add (text: string): void {
    this.lines.push({ text, at: Date.now() })
    // The emitting process (reload[<pid>]:, pid=, pino's "pid":) and the others it names (worker=, child=,
    // parent=, or as JSON fields).
    for (const match of text.matchAll(/(?:\bpid[= ]|^reload\[|\b(?:worker|child|parent)=|"(?:pid|worker|child|parent)":)(\d+)/g)) this.pids.add(Number(match[1]))
    if (process.env.RELOAD_TEST_ECHO !== undefined) process.stderr.write(`  | ${text}\n`)
    for (const wake of this.#waiters) wake()
  }

  get output (): string { return this.lines.map((l) => l.text).join('\n') }

  /** Waits for the first line at index >= `from` that matches `pattern`. */
  async waitFor (pattern: RegExp, { from = 0, timeout = 10_000 } = {}): Promise<{ match: RegExpMatchArray, index: number }> {
    const deadline = Date.now() + timeout
    for (;;) {
      for (let i = from; i < this.lines.length; i++) {
        const match = (this.lines[i] as Line).text.match(pattern)
        if (match !== null) return { match, index: i }
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${pattern}; output:\n${this.output}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left)
        function done (): void { clearTimeout(timer); wakers.delete(done); resolve() }
        const wakers = this.#waiters
        wakers.add(done)
      })
    }
  }

  /** Waits until a server of this fixture prints that it received the request marked `id`; returns its pid. */
  async arrival (id: string, timeout = 10_000): Promise<number> {
    const { match } = await this.waitFor(new RegExp(`^request \\S*[?&]arrival=${id}(?:&\\S*)? pid=(\\d+)$`), { timeout })
    return Number(match[1])
  }

  /**
   * Sends GET `url` and waits until a server of this fixture has received it (no sleep "so it is surely in
   * flight"); returns the pid that has it in flight and the response to come.
   */
  async inFlight (url: string, options?: RequestOptions): Promise<{ pid: number, response: Promise<Outcome> }> {
    const { url: target, id } = marked(url)
    // Such a request is meant to last until the server acts on it (a drain, a cut, a release), which on a
    // busy machine may be well past the client's usual 10 s: the test's own timeout bounds it.
    const response = request(target, { timeout: 120_000, ...options })
    const arrival = this.arrival(id)
    arrival.catch(() => {})
    const ended = response.then((outcome) => new Error(`GET ${target} ended before it was seen arriving: ${JSON.stringify(outcome)}`))
    const first = await Promise.race([arrival, ended])
    if (first instanceof Error) throw first
    return { pid: first, response }
  }

  /** The index of the first line that is exactly `text`, or -1. */
  index (text: string): number {
    return this.lines.findIndex((line) => line.text === text)
  }

  /** Waits until generation `n` says it is ready (`reload[<pid>]: generation <n> ready (…)`); returns its pid. */
  async ready (generation: number, timeout = 15_000): Promise<number> {
    const { match } = await this.waitFor(new RegExp(`^reload\\[(\\d+)\\]: generation ${generation} ready \\(`), { timeout })
    return Number(match[1])
  }

  /** Sends `signal` to `pid` (default: the first generation). */
  signal (signal: NodeJS.Signals, pid = this.child.pid as number): void {
    process.kill(pid, signal)
  }

  /** Resolves once `pid` no longer exists. */
  /** Waits for the first process to exit; throws after `timeout` ms with its output. */
  async exited (timeout = 10_000): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`pid ${this.child.pid} still runs after ${timeout} ms; output:\n${this.output}`)), timeout)
    })
    try { return await Promise.race([this.exit, late]) } finally { clearTimeout(timer) }
  }

  async gone (pid: number, timeout = 15_000): Promise<void> {
    // A process that exits emits nothing the test can listen to (only its parent sees it): poll.
    await until(() => !isAlive(pid), () => `pid ${pid} is gone; output:\n${this.output}`, { timeout, every: 25 })
  }

  /** Kills every pid seen, by pid. */
  async close (): Promise<void> {
    for (const pid of this.pids) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
    await Promise.all([...this.pids].map(async (pid) => await this.gone(pid, 5000).catch(() => {})))
  }
}

/** Whether a process with this pid exists (a zombie counts as gone). */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8') as string
    return stat.split(') ')[1]?.[0] !== 'Z'
  } catch {
    return false
  }
}

const fixtures = new Set<Fixture>()

// The runner's own RELOAD_* and LISTEN_* settings (CI's report path, an operator's timeouts) are not the test's.
function outerEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RELOAD|LISTEN)_/.test(name) || name === 'RELOAD_TEST_ECHO'))
}

export interface StartOptions {
  env?: Record<string, string>
  args?: string[]
  cwd?: string
  /** Another command than node, such as `unshare` or `systemd-socket-activate`; then `args` is its argv. */
  command?: string
  /** How long startServer() waits for the first generation to listen and be ready, each (ms). */
  startTimeout?: number
}

/**
 * Starts `node --import <log-arrivals> <script>` with `env` added; the caller (or `closeAll()`) kills it.
 * With another `command`, put `...nodeArgs(script)` in its args to run the script the same way.
 */
export function startProcess (script: string, { env = {}, args = [], cwd = root, command = process.execPath }: StartOptions = {}): Fixture {
  const child = spawn(command, command === process.execPath ? [...nodeArgs(script).slice(1), ...args] : args, {
    cwd,
    env: { ...outerEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const fixture = new Fixture(child)
  fixtures.add(fixture)
  return fixture
}

/** `node --import <log-arrivals> <script>`: the argv that starts `script` as `startProcess()` does. */
export function nodeArgs (script: string): string[] {
  return [process.execPath, '--import', logArrivals, script]
}

/** Starts a server script and waits for `listening on http(s)://host:port`; returns the fixture and its URL. */
export async function startServer (script: string, options: StartOptions = {}): Promise<{ fixture: Fixture, url: string, pid: number }> {
  const fixture = startProcess(script, { ...options, env: { PORT: '0', ...options.env } })
  const timeout = options.startTimeout ?? 15_000
  const { match } = await fixture.waitFor(/listening on (https?:\/\/\S+)/, { timeout })
  const pid = await fixture.ready(1, timeout)
  return { fixture, url: (match[1] as string).replace('localhost', '127.0.0.1'), pid }
}

const folders = new Set<string>()

/** A new temporary folder, removed by `closeAll()`. */
export function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'reload-test-'))
  folders.add(dir)
  return dir
}

/** Kills every process that any fixture of this test file started, then removes the temporary folders. */
export async function closeAll (): Promise<void> {
  await Promise.all([...fixtures].map(async (f) => await f.close()))
  fixtures.clear()
  for (const dir of folders) rmSync(dir, { recursive: true, force: true })
  folders.clear()
}

let copies = 0

/**
 * A copy of `script` (from the repository root) beside it, so it resolves the same packages, under a name
 * unique to this test, that the test rewrites between generations. `remove()` it in `finally`.
 */
export function copyOf (script: string): { path: string, write: (edit: (source: string) => string) => void, remove: () => void } {
  const original = join(root, script)
  const ext = extname(original)
  const path = join(dirname(original), `.copy-${basename(original, ext)}-${process.pid}-${++copies}${ext}`)
  copyFileSync(original, path)
  const source = readFileSync(original, 'utf8')
  return {
    path,
    write: (edit) => writeFileSync(path, edit(source)),
    remove: () => rmSync(path, { force: true })
  }
}
