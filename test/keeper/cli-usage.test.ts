import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, isAlive, portBelowEphemeralRange, root, startProcess, tempDir, type Fixture } from '@reload/test-helpers'
import { reloadBin } from './helpers.js'

afterEach(closeAll)

interface Ran { code: number | null, stdout: string, stderr: string, fixture: Fixture }

// An empty PORT is no PORT: the runner's own must not give the keeper an address.
const noPort = { PORT: '' }

/** Runs `reload <args>` to its end (killed by pid in afterEach if it outlives `timeout`); its stdout and stderr apart. */
async function reload (args: string[], env: Record<string, string> = noPort, timeout = 10_000): Promise<Ran> {
  const fixture = startProcess(reloadBin, { args, env })
  // Only this process is the test's to kill: its messages name others (`--pid 1`, a keeper's pid).
  fixture.pids.add = () => fixture.pids
  let stdout = ''
  let stderr = ''
  fixture.child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  fixture.child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`reload ${args.join(' ')} still runs after ${timeout} ms:\n${fixture.output}`)), timeout)
  })
  try {
    // 'close', not 'exit': by then stdout and stderr have been read to their end.
    const [code] = await Promise.race([once(fixture.child, 'close'), late]) as [number | null]
    return { code, stdout, stderr, fixture }
  } finally {
    clearTimeout(timer)
  }
}

const version = (JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')) as { version: string }).version

describe('reload command line, as a new user types it', () => {
  it('--help and -h print the help of reload and of each command on stdout, exit 0', async () => {
    const runs = await Promise.all([[], ['--help'], ['-h'], ...['run', 'dev', 'status', 'reload'].flatMap((name) => [[name, '--help'], [name, '-h']])].map(async (args) => ({ args, ran: await reload(args) })))
    for (const { args, ran } of runs) {
      expect({ args, code: ran.code, stderr: ran.stderr }).toEqual({ args, code: 0, stderr: '' })
      const name = args.length === 2 ? args[0] as string : undefined
      if (name === undefined) {
        expect(ran.stdout).toMatch(/^Usage:\n {2}reload run /)
        expect(ran.stdout).toMatch(/\n {2}reload <command> --help {7,}that command's options, and an example\n/)
        continue
      }
      expect(ran.stdout).toMatch(new RegExp(`^Usage: reload ${name} `))
      expect(ran.stdout).toMatch(/\n {2}-h, --help +this help\n/)
      expect(ran.stdout).toMatch(new RegExp(`\\nExample:\\n {2}reload ${name} [^\\n]+\\n$`))
    }
    const help = (name: string): string => (runs.find((r) => r.args[0] === name)?.ran.stdout) as string
    expect(help('run')).toMatch(/\n {2}--workers N +workers accepting on the same sockets \(default 1\)\n/)
    expect(help('run')).toMatch(/Without it: the\n +sockets from systemd \(LISTEN_FDS\), else \$PORT\n/)
    expect(help('dev')).toMatch(/\n {2}--watch PATH /)
    expect(help('dev')).not.toMatch(/--workers/)
    expect(help('status')).toMatch(/\n {2}--json /)
    expect(help('reload')).toMatch(/\n {2}--wait /)
  })

  it('--version and -v print the version in the cli\'s package.json', async () => {
    for (const flag of ['--version', '-v']) {
      const ran = await reload([flag])
      expect({ code: ran.code, stdout: ran.stdout, stderr: ran.stderr }).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' })
    }
  })

  it('options written after the command: says they go before it, with the command line corrected; exit 2, nothing left running', async () => {
    const app = 'test/fixtures/http-app.js'
    for (const name of ['run', 'dev']) {
      const ran = await reload([name, 'node', app, '--listen', '127.0.0.1:0'])
      expect({ code: ran.code, stdout: ran.stdout }).toEqual({ code: 2, stdout: '' })
      expect(ran.stderr).toBe(`reload: reload ${name} has nothing to listen on: --listen 127.0.0.1:0 came after the command, which gets everything written after it; ` +
        `reload's options go before the command (and before --): reload ${name} --listen 127.0.0.1:0 -- node ${app} (ERR_RELOAD_USAGE)\n`)
      // The keeper started no worker, and is gone.
      expect(ran.fixture.output).not.toMatch(/starting worker/)
      expect(isAlive(ran.fixture.child.pid as number)).toBe(false)
    }
    const plain = await reload(['run', '--', 'node', app])
    expect(plain.code).toBe(2)
    expect(plain.stderr).toBe('reload: reload run has nothing to listen on: give --listen ADDR (PORT, HOST:PORT, unix:/path), set PORT, ' +
      'or start it under systemd socket activation (ERR_RELOAD_USAGE)\n')
  })

  it('reload run without --listen listens on $PORT, and says so', async () => {
    const control = join(tempDir(), 'control.sock')
    for (let attempt = 1; ; attempt++) {
      const port = await portBelowEphemeralRange()
      const keeper = startProcess(reloadBin, { args: ['run', '--control', control, '--', process.execPath, 'test/fixtures/http-app.js'], env: { PORT: String(port) } })
      const { match } = await keeper.waitFor(new RegExp(`worker ready on (?:\\[::\\]|0\\.0\\.0\\.0):${port} |cannot listen on :${port} \\(EADDRINUSE\\)`), { timeout: 20_000 })
      // A program outside the test run took the port meanwhile.
      if (match[0].startsWith('cannot') && attempt < 5) continue
      expect(keeper.lines[0]?.text).toBe(`reload[${keeper.child.pid as number}]: listening on $PORT (${port}): no --listen given`)
      const worker = Number((await keeper.waitFor(/starting worker 1 \(worker=(\d+) generation=1\)/)).match[1])
      expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 200, body: `ospid:${worker}`, pid: worker })
      keeper.signal('SIGTERM')
      expect(await keeper.exited()).toEqual({ code: 0, signal: null })
      return
    }
  })

  it('--pid 1 that is no keeper says what pid 1 is, and what to give instead', async () => {
    // Folders of its own: no keeper of another test file is looked at.
    const ran = await reload(['reload', '--pid', '1'], { XDG_RUNTIME_DIR: tempDir(), TMPDIR: tempDir() })
    expect({ code: ran.code, stdout: ran.stdout }).toEqual({ code: 1, stdout: '' })
    expect(ran.stderr).toBe('reload: pid 1 is not a keeper here but the init (systemd, tini, a container\'s entrypoint; a keeper is pid 1 only as ' +
      'the first process of a container): give the keeper\'s pid (its log says `keeper pid N`), or leave --pid out when one keeper runs (ERR_RELOAD_NO_KEEPER)\n')
    const zero = await reload(['status', '--pid', '0'])
    expect(zero.code).toBe(2)
    expect(zero.stderr).toMatch(/^reload: --pid should be a process id \(the keeper's: its log says `keeper pid N`\), instead got '0'; with one keeper running, leave --pid out/)
  })
})
