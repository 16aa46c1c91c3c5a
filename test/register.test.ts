import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, root, startServer, tempDir, until } from '@reload/test-helpers'
import { startKeeper, workers } from './keeper/helpers.js'

const app = 'test/fixtures/register-app.js'
const register = join(root, 'packages/core/dist/register.js')
const recordLoads = join(root, 'test/fixtures/record-loads.js')
// Node 22.10 and later write the cache before exit (module.flushCompileCache); 22.1 to 22.9 only at exit.
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number]
const flushes = major > 22 || (major === 22 && minor >= 10)

afterEach(closeAll)

// The PID namespace keepers started here run in: their compile cache folders are named after it.
const namespace = /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] as string
const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')

/** The app under the preload, with every ES module it loads recorded; its `loaded before=… after=…` line. */
async function preloaded (env: Record<string, string> = {}): Promise<{ before: string[], after: string[], url: string }> {
  const loads = join(tempDir(), 'loads')
  writeFileSync(loads, '')
  const { fixture, url } = await startServer(app, { env: { NODE_OPTIONS: `--import=${recordLoads} --import=${register}`, LOADS_FILE: loads, ...env } })
  const { match } = await fixture.waitFor(/^loaded before=(\S+) after=(\S+)$/)
  return { before: JSON.parse(match[1] as string) as string[], after: JSON.parse(match[2] as string) as string[], url }
}

describe('@reload/core/register', () => {
  // One file of core before the app's first line, the reloader as one more at the first listen(): each ES
  // module costs a start (the reloader's 31 of them, about 20 ms on Node 20).
  it('loads one file of @reload/core before the app, and the reloader as one more at its first listen()', async () => {
    const { before, after } = await preloaded()
    expect(before).toEqual(['register.js'])
    expect(after).toEqual(['generation/reloader.cjs', 'register.js'])
  })

  it('takes the reloader an app made first from its own @reload/core, and loads no other', async () => {
    const { after } = await preloaded({ OWN: '1' })
    expect(after).toContain('index.js')
    expect(after).not.toContain('generation/reloader.cjs')
  })

  it('counts the requests for reloadMetrics() of the app\'s own @reload/core, made after the preload\'s first listen()', async () => {
    const { url } = await preloaded({ METRICS: '1' })
    for (let i = 0; i < 3; i++) expect((await get(url)).status).toBe(200)
    const { body } = await get(`${url}/metrics`)
    expect(body).toMatch(/^reload_requests_total 4$/m)
  })
})

describe('reload run: Node\'s compile cache', () => {
  it('gives every worker one folder, written once a worker has served a second, removed at the keeper\'s exit', async () => {
    const keeper = await startKeeper()
    const [worker] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const dir = environ(worker).find((v) => v.startsWith('RELOAD_COMPILE_CACHE='))?.slice('RELOAD_COMPILE_CACHE='.length) as string
    expect(dir).toMatch(new RegExp(`^${tmpdir()}/reload-cache-${namespace}-${keeper.pid}-\\w{6}$`))
    expect(statSync(dir).isDirectory()).toBe(true)
    // Written while it serves: a SIGKILL skips Node's own write at exit.
    const written = (): boolean => readdirSync(dir, { recursive: true, withFileTypes: true }).some((entry) => entry.isFile())
    if (flushes) await until(written, `a compile cache written in ${dir}`, { timeout: 5000 })
    // The worker the keeper starts in its place reads what it wrote.
    const from = keeper.fixture.lines.length
    process.kill(worker, 'SIGKILL')
    const { match } = await keeper.fixture.waitFor(/starting worker 1 \(worker=(\d+) /, { from })
    // Once it runs node: until its exec, /proc shows the keeper's fork.
    await keeper.fixture.waitFor(/worker 1 serves again/, { from })
    expect(environ(Number(match[1]))).toContain(`RELOAD_COMPILE_CACHE=${dir}`)
    keeper.fixture.signal('SIGTERM')
    expect((await keeper.fixture.exited(15_000)).code).toBe(0)
    expect(existsSync(dir)).toBe(false)
  })

  it('removes the folder a keeper killed with SIGKILL left behind, and keeps a running keeper\'s', async () => {
    const killed = await startKeeper()
    const [worker] = workers(killed.fixture).map((w) => w.pid) as [number]
    const left = environ(worker).find((v) => v.startsWith('RELOAD_COMPILE_CACHE='))?.slice('RELOAD_COMPILE_CACHE='.length) as string
    process.kill(killed.pid, 'SIGKILL')
    await killed.fixture.gone(killed.pid)
    expect(existsSync(left)).toBe(true)
    // This process runs: a folder named after it is a running keeper's. A keeper in another PID namespace (a
    // container sharing $TMPDIR, as the pid-1 tests here run) cannot tell whether a pid runs: its folder stays,
    // named after a pid that runs nowhere.
    const running = mkdtempSync(join(tmpdir(), `reload-cache-${namespace}-${process.pid}-`))
    const elsewhere = mkdtempSync(join(tmpdir(), `reload-cache-1-${2 ** 22 + 1}-`))
    try {
      await startKeeper()
      expect(existsSync(left)).toBe(false)
      expect(existsSync(running)).toBe(true)
      expect(existsSync(elsewhere)).toBe(true)
    } finally {
      rmSync(running, { recursive: true, force: true })
      rmSync(elsewhere, { recursive: true, force: true })
    }
  })

  it('leaves a cache the user set to the user: no folder of its own', async () => {
    const mine = mkdtempSync(join(tmpdir(), 'reload-test-cache-'))
    try {
      const keeper = await startKeeper([], { env: { NODE_COMPILE_CACHE: mine } })
      const [worker] = workers(keeper.fixture).map((w) => w.pid) as [number]
      expect(environ(worker)).toContain(`NODE_COMPILE_CACHE=${mine}`)
      expect(environ(worker).some((v) => v.startsWith('RELOAD_COMPILE_CACHE='))).toBe(false)
    } finally {
      await closeAll()
      rmSync(mine, { recursive: true, force: true })
    }
  })

  it('is out of the app\'s environment, so that its own children do not write there', async () => {
    const keeper = await startKeeper([], { app: join(root, app), env: { LOADS_FILE: '/dev/null' } })
    const [worker] = workers(keeper.fixture).map((w) => w.pid) as [number]
    // /proc keeps the environment the worker started with; the app prints the one its code sees.
    expect(environ(worker).some((v) => v.startsWith('RELOAD_COMPILE_CACHE='))).toBe(true)
    await keeper.fixture.waitFor(/^compile cache in the app's environment: none$/)
  })
})
