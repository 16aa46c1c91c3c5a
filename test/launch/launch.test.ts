// A new generation starts the way the first one was started: the command line and environment the
// kernel kept for it, in the folder it was started from. Real processes, started as users start them.
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { get, listensOn, request, until } from '@reload/test-helpers'
import { appDir, cleanUp, listening, modules, place, run, twoPorts } from './helpers.js'

afterEach(cleanUp)

describe('a new generation starts the way the first one was started', () => {
  it('node --env-file=.env: a new PORT and VALUE in .env take effect at the next reload', async () => {
    const dir = appDir()
    place('server.js', dir)
    const [before, after] = await twoPorts()
    writeFileSync(join(dir, '.env'), `PORT=${before}\nVALUE=one\n`)
    const fixture = run(process.execPath, ['--env-file=.env', 'server.js'], { cwd: dir })
    const pid = await fixture.ready(1)
    expect((await get(`http://127.0.0.1:${before}/`)).body).toBe(`ospid:${pid} value=one release=v1`)
    writeFileSync(join(dir, '.env'), `PORT=${after}\nVALUE=two\n`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect((await get(`http://127.0.0.1:${after}/`)).body).toBe(`ospid:${next} value=two release=v1`)
    // The old port is released: the new code does not use it.
    await fixture.waitFor(new RegExp(`^reload\\[${next}\\]: closed inherited listeners the new code does not use \\(names=tcp-127\\.0\\.0\\.1-${before}\\)`))
    await fixture.gone(pid)
    // The old generation's holder lets go of the old port once it sees the drain over, a moment later.
    await until(() => !listensOn(before), `nothing listens on port ${before}`)
    expect((await request(`http://127.0.0.1:${before}/`)).error).toBe('ECONNREFUSED')
  })

  it('dotenv: a new PORT and VALUE in .env take effect at the next reload', async () => {
    const dir = appDir(['@reload/core', 'dotenv'])
    place('server.js', dir)
    place('dotenv-server.js', dir)
    const [before, after] = await twoPorts()
    writeFileSync(join(dir, '.env'), `PORT=${before}\nVALUE=one\n`)
    const fixture = run(process.execPath, ['dotenv-server.js'], { cwd: dir, env: { DOTENV_CONFIG_QUIET: 'true' } })
    const pid = await fixture.ready(1)
    expect((await get(`http://127.0.0.1:${before}/`)).body).toBe(`ospid:${pid} value=one release=v1`)
    writeFileSync(join(dir, '.env'), `PORT=${after}\nVALUE=two\n`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect((await get(`http://127.0.0.1:${after}/`)).body).toBe(`ospid:${next} value=two release=v1`)
  })

  it('`cd current && node server.js`: after the symlink moves to the next release, a reload runs its file', async () => {
    const dir = appDir()
    place('server.js', dir, { name: 'releases/v1/server.js', release: 'v1' })
    place('server.js', dir, { name: 'releases/v2/server.js', release: 'v2' })
    symlinkSync('releases/v1', join(dir, 'current'))
    const current = join(dir, 'current')
    const fixture = run(process.execPath, ['server.js'], { cwd: current })
    const url = await listening(fixture)
    const pid = await fixture.ready(1)
    expect((await get(url)).body).toBe(`ospid:${pid} value=undefined release=v1`)
    // A deploy: the link moves, atomically.
    symlinkSync('releases/v2', join(dir, 'current.next'))
    renameSync(join(dir, 'current.next'), current)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect((await get(url)).body).toBe(`ospid:${next} value=undefined release=v2`)
    // And back: the release the link names at each reload.
    symlinkSync('releases/v1', join(dir, 'current.next'))
    renameSync(join(dir, 'current.next'), current)
    fixture.signal('SIGHUP', next)
    const third = await fixture.ready(3)
    expect((await get(url)).body).toBe(`ospid:${third} value=undefined release=v1`)
  })

  it('node --import tsx server.ts: the new generation runs the new TypeScript', async () => {
    const dir = appDir()
    place('server.ts', dir)
    const tsx = pathToFileURL(join(modules, 'tsx/dist/loader.mjs')).href
    const fixture = run(process.execPath, ['--import', tsx, 'server.ts'], { cwd: dir, env: { VALUE: 'ts' } })
    const url = await listening(fixture)
    const pid = await fixture.ready(1, 30_000)
    expect((await get(url)).body).toBe(`ospid:${pid} value=ts release=v1`)
    place('server.ts', dir, { release: 'v2' })
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2, 30_000)
    expect((await get(url)).body).toBe(`ospid:${next} value=ts release=v2`)
  })

  it('a relative script started from another folder, by an app that changes its directory: the next generation starts', async () => {
    const dir = appDir()
    place('server.js', dir)
    const elsewhere = join(dir, 'elsewhere')
    mkdirSync(elsewhere)
    const fixture = run(process.execPath, ['../server.js'], { cwd: elsewhere, env: { CHDIR: '/', VALUE: 'rel' } })
    const url = await listening(fixture)
    const pid = await fixture.ready(1)
    expect((await get(url)).body).toBe(`ospid:${pid} value=rel release=v1`)
    place('server.js', dir, { release: 'v2' })
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect((await get(url)).body).toBe(`ospid:${next} value=rel release=v2`)
  })
})
