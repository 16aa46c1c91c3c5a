import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, Fixture, get, isAlive, portBelowEphemeralRange, requires, root, startProcess, tempDir } from '@reload/test-helpers'
import { cli, inPidNamespace, plainApp, reloadBin, startKeeper, workers } from './helpers.js'

afterEach(closeAll)

interface Status { generation: number, workers: Array<{ pid: number, generation: number, state: string }> }

async function status (control: string): Promise<Status> {
  const { stdout } = await cli(['status', '--json', '--control', control])
  return JSON.parse(stdout) as Status
}

describe('reload run: edges', () => {
  it('workers outlive a terminal that hung up: writes to a dead stdout and stderr kill no one, a roll still works', async () => {
    const dir = tempDir()
    const control = join(dir, 'control.sock')
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RELOAD|LISTEN)_/.test(name)))
    const child = spawn(process.execPath, [reloadBin, 'run', '--listen', '127.0.0.1:0', '--control', control, '--', process.execPath, plainApp],
      { cwd: root, env: { ...env, HOST: '127.0.0.1', PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
    const fixture = new Fixture(child)
    try {
      const { match } = await fixture.waitFor(/ready on 127\.0\.0\.1:(\d+)/)
      const url = `http://127.0.0.1:${match[1] as string}`
      // The terminal is gone: every later write of the keeper and its workers fails (EPIPE here, EIO on a tty).
      child.stdout.destroy()
      child.stderr.destroy()
      const roll = await cli(['reload', '--wait', '--control', control])
      expect(roll.code).toBe(0)
      const next = (await status(control)).workers.filter((w) => w.generation === 2)
      expect(next).toHaveLength(1)
      const pid = (next[0] as { pid: number }).pid
      expect((await get(url)).pid).toBe(pid)
      // It logged its ready line into the dead pipe and lives on; so does the keeper.
      const again = await cli(['reload', '--wait', '--control', control])
      expect(again.code).toBe(0)
      expect(isAlive(child.pid as number)).toBe(true)
      expect((await status(control)).generation).toBe(3)
      fixture.pids.add(pid)
    } finally {
      await fixture.close()
    }
  })

  it('refuses a reload while the first workers are still starting, and takes the next one', async () => {
    // The first worker listens only when the test says so: the reload surely comes while it starts.
    const slow = await startKeeper([], { ready: false, behaviour: 'wait' })
    await slow.fixture.waitFor(/starting worker 1/)
    const early = await cli(['reload', '--wait', '--control', slow.control], { timeout: 10_000 }).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }))
    expect(early.code).toBe(1)
    expect(early.stderr).toMatch(/the first workers are still starting.*\(ERR_RELOAD_NOT_READY\)/)
    slow.behave('ok')
    await slow.fixture.waitFor(/worker ready on/)
    expect((await cli(['reload', '--wait', '--control', slow.control])).code).toBe(0)
    expect(workers(slow.fixture).filter((w) => w.slot === 1)).toHaveLength(2)
  })

  it('a first start that fails exits 1 at once, without waiting out --shutdown-delay', async () => {
    const failing = await startKeeper(['--shutdown-delay', '20s', '--drain-timeout', '30s'], { ready: false, behaviour: 'fail' })
    const { code } = await failing.fixture.exited(8000)
    expect(code).toBe(1)
    expect(failing.fixture.output).toMatch(/the first workers did not start/)
    expect(failing.fixture.output).not.toMatch(/serving .* more before draining/)
  })

  it('each worker preloads the @reload/core of its own release, so an old release can be deleted', async () => {
    const dir = tempDir()
    for (const version of ['v1', 'v2']) {
      const release = join(dir, 'releases', version)
      mkdirSync(join(release, 'node_modules', '@reload', 'core'), { recursive: true })
      cpSync(join(root, 'packages/core/dist'), join(release, 'node_modules/@reload/core/dist'), { recursive: true })
      cpSync(join(root, 'packages/core/package.json'), join(release, 'node_modules/@reload/core/package.json'))
      writeFileSync(join(release, 'package.json'), '{ "type": "module" }\n')
      if (version === 'v2') {
        // v2 brings an @reload/core from before the CommonJS entry: its preload is an ES module only.
        const manifest = join(release, 'node_modules/@reload/core/package.json')
        const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, unknown> }
        pkg.exports['./register'] = { types: './dist/register.d.ts', default: './dist/register.js' }
        writeFileSync(manifest, JSON.stringify(pkg))
        rmSync(join(release, 'node_modules/@reload/core/dist/register.cjs'))
      }
      writeFileSync(join(release, 'server.js'), readFileSync(plainApp, 'utf8'))
    }
    const current = join(dir, 'current')
    symlinkSync(join(dir, 'releases', 'v1'), current)
    const fixture = startProcess(reloadBin, {
      args: ['run', '--listen', '127.0.0.1:0', '--', process.execPath, 'server.js'],
      cwd: current,
      env: { PWD: current, HOST: '127.0.0.1', PORT: '0' }
    })
    const { match } = await fixture.waitFor(/ready on 127\.0\.0\.1:(\d+)/)
    const preload = (pid: number): string | undefined => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((v) => v.startsWith('NODE_OPTIONS='))
    const [first] = workers(fixture).map((w) => w.pid) as [number]
    expect(preload(first)).toContain(`--require=${join(dir, 'releases/v1/node_modules/@reload/core/dist/register.cjs')}`)
    symlinkSync(join(dir, 'releases', 'v2'), join(dir, 'next'))
    renameSync(join(dir, 'next'), current)
    rmSync(join(dir, 'releases', 'v1'), { recursive: true })
    fixture.signal('SIGHUP', fixture.child.pid as number)
    await fixture.waitFor(/generation 2 serves/)
    const next = workers(fixture).find((w) => w.generation === 2)?.pid as number
    expect(preload(next)).toContain(`--import=${pathToFileURL(join(dir, 'releases/v2/node_modules/@reload/core/dist/register.js')).href}`)
    expect((await get(`http://127.0.0.1:${match[1] as string}/`)).pid).toBe(next)
  })

  it('runs as pid 1 of a PID namespace without an init (a container started without --init)', async (ctx) => {
    await requires(ctx, 'root', 'mount namespace')
    const port = await portBelowEphemeralRange()
    const { fixture, pidOne } = inPidNamespace([process.execPath, reloadBin, 'run', '--listen', `127.0.0.1:${port}`, '--', process.execPath, plainApp],
      { HOST: '127.0.0.1', PORT: String(port) })
    await fixture.waitFor(/worker ready on 127\.0\.0\.1/)
    expect(fixture.output).toMatch(/keeper pid 1 starting/)
    const url = `http://127.0.0.1:${port}`
    const first = (await get(url)).pid
    const keeper = pidOne()
    process.kill(keeper, 'SIGHUP')
    await fixture.waitFor(/generation 2 serves/)
    expect((await get(url)).pid).not.toBe(first)
    process.kill(keeper, 'SIGTERM')
    expect((await fixture.exited(15_000)).code).toBe(0)
  })
})
