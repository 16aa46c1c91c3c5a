import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

/** The repository root, for paths to examples and fixtures. */
export const root = fileURLToPath(new URL('../../', import.meta.url))

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
  #partial = ''
  exit: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (child: ChildProcess) {
    this.child = child
    if (child.pid !== undefined) this.pids.add(child.pid)
    const read = (chunk: Buffer): void => {
      this.#partial += chunk.toString('utf8')
      const parts = this.#partial.split('\n')
      this.#partial = parts.pop() ?? ''
      for (const text of parts) this.#add(text)
    }
    child.stdout?.on('data', read)
    child.stderr?.on('data', read)
    this.exit = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  }

  #add (text: string): void {
    this.lines.push({ text, at: Date.now() })
    for (const match of text.matchAll(/\bpid[= ](\d+)/g)) this.pids.add(Number(match[1]))
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

  /** Waits until generation `n` says it is ready; returns its pid. */
  async ready (generation: number, timeout = 15_000): Promise<number> {
    const { match } = await this.waitFor(new RegExp(`generation ${generation} ready \\(pid=(\\d+)`), { timeout })
    return Number(match[1])
  }

  /** Sends `signal` to `pid` (default: the first generation). */
  signal (signal: NodeJS.Signals, pid = this.child.pid as number): void {
    process.kill(pid, signal)
  }

  /** Resolves once `pid` no longer exists. */
  async gone (pid: number, timeout = 15_000): Promise<void> {
    const deadline = Date.now() + timeout
    while (isAlive(pid)) {
      if (Date.now() > deadline) throw new Error(`pid ${pid} still alive after ${timeout} ms; output:\n${this.output}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
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

/** Starts `node <script>` with `env` added; the caller (or `closeAll()`) kills it. */
export function startProcess (script: string, { env = {}, args = [] as string[], cwd = root, command = process.execPath } = {}): Fixture {
  const child = spawn(command, command === process.execPath ? [script, ...args] : args, {
    cwd,
    env: { ...outerEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const fixture = new Fixture(child)
  fixtures.add(fixture)
  return fixture
}

/** Starts a server script and waits for `listening on http://host:port`; returns the fixture and its URL. */
export async function startServer (script: string, options: Parameters<typeof startProcess>[1] = {}): Promise<{ fixture: Fixture, url: string, pid: number }> {
  const fixture = startProcess(script, { ...options, env: { PORT: '0', ...options.env } })
  const { match } = await fixture.waitFor(/listening on (http:\/\/\S+)/, { timeout: 15_000 })
  const pid = await fixture.ready(1)
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
