import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, root, startProcess, startServer, tempDir, until } from '@reload/test-helpers'
import { reloadBin, startKeeper, workers } from './keeper/helpers.js'

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
async function preloaded (env: Record<string, string> = {}, preload = `--import=${register}`): Promise<{ before: string[], after: string[], url: string }> {
  const loads = join(tempDir(), 'loads')
  writeFileSync(loads, '')
  const { fixture, url } = await startServer(app, { env: { NODE_OPTIONS: `--import=${recordLoads} ${preload}`, LOADS_FILE: loads, ...env } })
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

  it('as a CommonJS entry (node -r, a keeper\'s --require): one file before the app, the reloader as one more at its first listen()', async () => {
    const { before, after, url } = await preloaded({}, `--require=${register.replace(/\.js$/, '.cjs')}`)
    expect(before).toEqual(['register.cjs'])
    expect(after).toEqual(['generation/reloader.cjs', 'register.cjs'])
    expect((await get(url)).status).toBe(200)
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

describe('reload run: the preload', () => {
  it('is the CommonJS entry by --require, quoted in a folder with a space; the app\'s children get NODE_OPTIONS as the user wrote it', async () => {
    const dir = join(tempDir(), 'my app')
    mkdirSync(join(dir, 'node_modules', '@reload', 'core'), { recursive: true })
    cpSync(join(root, 'packages/core/dist'), join(dir, 'node_modules/@reload/core/dist'), { recursive: true })
    cpSync(join(root, 'packages/core/package.json'), join(dir, 'node_modules/@reload/core/package.json'))
    cpSync(join(root, 'test/fixtures/children-app.cjs'), join(dir, 'server.cjs'))
    const own = '--title="my app" --max-old-space-size=300'
    const fixture = startProcess(reloadBin, {
      args: ['run', '--listen', '127.0.0.1:0', '--', process.execPath, 'server.cjs'],
      cwd: dir,
      env: { PWD: dir, HOST: '127.0.0.1', PORT: '0', NODE_OPTIONS: own }
    })
    const { match } = await fixture.waitFor(/ready on 127\.0\.0\.1:(\d+)/)
    const [worker] = workers(fixture).map((w) => w.pid) as [number]
    expect(environ(worker).find((v) => v.startsWith('NODE_OPTIONS='))).toBe(`NODE_OPTIONS=${own} --require="${dir}/node_modules/@reload/core/dist/register.cjs"`)
    expect(readFileSync(`/proc/${worker}/cmdline`, 'utf8').split('\0')[0]).toBe('my app')
    const answer = await get(`http://127.0.0.1:${match[1] as string}/`)
    expect(answer.status).toBe(200)
    expect(answer.body).toBe(own)
  })
})

describe('reload run: the compile cache', () => {
  /** The compile cache folder a worker was given. */
  const cacheOf = (worker: number): string | undefined => environ(worker).find((v) => v.startsWith('RELOAD_COMPILE_CACHE='))?.slice('RELOAD_COMPILE_CACHE='.length)
  const files = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
  // What the cache holds of the preload's own reloader: Node's entry on 22.1 and later, reload's own on Node 20.
  const ownEntry = (dir: string): string | undefined => files(dir).find((f) => (major >= 22 ? /\/[0-9a-f]{8}$/ : /\/reload-v8\/.*\.bin$/).test(f))

  it('is the user\'s cache folder, private to the user: written once a worker has served a second, kept for the next keeper, whose first worker reads it', async () => {
    const home = tempDir()
    const env = { XDG_CACHE_HOME: home, NODE_DEBUG: 'reload', NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }
    const first = await startKeeper([], { env })
    const [worker] = workers(first.fixture).map((w) => w.pid) as [number]
    const dir = join(home, 'reload', 'compile')
    expect(cacheOf(worker)).toBe(dir)
    expect(statSync(join(home, 'reload')).mode & 0o777).toBe(0o700)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    // Written while it serves: a SIGKILL skips Node's own write at exit.
    if (flushes || major === 20) await until(() => ownEntry(dir) !== undefined, `the reloader's compile cache written in ${dir}`, { timeout: 5000 })
    first.fixture.signal('SIGTERM')
    expect((await first.fixture.exited(15_000)).code).toBe(0)
    expect(existsSync(dir)).toBe(true)
    const entry = ownEntry(dir)
    const written = entry === undefined ? 0 : statSync(entry).mtimeMs
    // The next keeper's first worker compiles nothing of reload's.
    const next = await startKeeper([], { env })
    const [again] = workers(next.fixture).map((w) => w.pid) as [number]
    expect(cacheOf(again)).toBe(dir)
    if (major === 20) {
      await next.fixture.waitFor(new RegExp(`^RELOAD ${again}: code cache ${entry as string}: read$`))
    } else if (flushes) {
      await next.fixture.waitFor(/^\[compile cache\] (V8 code )?cache for (CommonJS )?\S+\/reloader\.cjs was accepted/)
    }
    // Read, not written again.
    await next.fixture.waitFor(/worker ready/)
    if (entry !== undefined && major === 20) expect(statSync(entry).mtimeMs).toBe(written)
  })

  it('removes what no worker wrote for 30 days, once the first worker has started', async () => {
    const home = tempDir()
    const dir = join(home, 'reload', 'compile')
    mkdirSync(join(dir, 'v0-old'), { recursive: true, mode: 0o700 })
    chmodSync(join(home, 'reload'), 0o700)
    const stale = join(dir, 'v0-old', 'stale')
    const fresh = join(dir, 'v0-old', 'fresh')
    writeFileSync(stale, 'x')
    writeFileSync(fresh, 'x')
    const month = (Date.now() - 31 * 24 * 3600 * 1000) / 1000
    utimesSync(stale, month, month)
    await startKeeper([], { env: { XDG_CACHE_HOME: home } })
    await until(() => !existsSync(stale), `${stale} removed`, { timeout: 10_000 })
    expect(existsSync(fresh)).toBe(true)
  })

  it('passes over a cache folder other users can open: a folder of the keeper\'s own then, removed at its exit', async () => {
    const home = tempDir()
    mkdirSync(join(home, 'reload'), { mode: 0o755 })
    chmodSync(join(home, 'reload'), 0o755)
    const keeper = await startKeeper([], { env: { XDG_CACHE_HOME: home } })
    const [worker] = workers(keeper.fixture).map((w) => w.pid) as [number]
    const dir = cacheOf(worker) as string
    expect(dir).toMatch(new RegExp(`^${tmpdir()}/reload-cache-${namespace}-${keeper.pid}-\\w{6}$`))
    expect(readdirSync(join(home, 'reload'))).toEqual([])
    keeper.fixture.signal('SIGTERM')
    expect((await keeper.fixture.exited(15_000)).code).toBe(0)
    expect(existsSync(dir)).toBe(false)
  })

  it('removes the folder of its own a keeper killed with SIGKILL left behind, and keeps a running keeper\'s', async () => {
    // No cache folder of the user's: HOME is a file.
    const env = { XDG_CACHE_HOME: '', HOME: join(tempDir(), 'none') }
    writeFileSync(env.HOME, '')
    const killed = await startKeeper([], { env })
    const [worker] = workers(killed.fixture).map((w) => w.pid) as [number]
    const left = cacheOf(worker) as string
    expect(left).toMatch(new RegExp(`^${tmpdir()}/reload-cache-`))
    process.kill(killed.pid, 'SIGKILL')
    await killed.fixture.gone(killed.pid)
    expect(existsSync(left)).toBe(true)
    // This process runs: a folder named after it is a running keeper's. A keeper in another PID namespace (a
    // container sharing $TMPDIR, as the pid-1 tests here run) cannot tell whether a pid runs: its folder stays,
    // named after a pid that runs nowhere.
    const running = mkdtempSync(join(tmpdir(), `reload-cache-${namespace}-${process.pid}-`))
    const elsewhere = mkdtempSync(join(tmpdir(), `reload-cache-1-${2 ** 22 + 1}-`))
    try {
      await startKeeper([], { env })
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
