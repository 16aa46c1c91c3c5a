import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, getUnix, keepAliveAgent, marked, startProcess, startServer, tempDir } from '@reload/test-helpers'

const app = 'test/fixtures/http-app.js'

afterEach(closeAll)

describe('handover', () => {
  it('a SIGHUP storm starts one new generation; a later SIGHUP starts the next', async () => {
    // With autoReady off the handover stays in progress until the new generation calls ready(), so the
    // whole storm lands within it, whatever the machine's speed.
    const { fixture, url, pid } = await startServer(app, { env: { WARMUP_MS: '1000' } })
    fixture.signal('SIGHUP', pid)
    await fixture.waitFor(/starting generation 2 /)
    // Signals of one kind do not queue: each one is sent once the previous one was answered.
    const ignored = /SIGHUP ignored: a handover is already in progress/
    for (let i = 0, from = 0; i < 7; i++) {
      fixture.signal('SIGHUP', pid)
      from = (await fixture.waitFor(ignored, { from })).index + 1
    }
    const second = await fixture.ready(2)
    expect(fixture.output.match(/starting generation \d/g)).toEqual(['starting generation 2'])
    expect(fixture.output.match(new RegExp(ignored, 'g'))?.length).toBe(7)
    fixture.signal('SIGHUP', second)
    const third = await fixture.ready(3)
    expect((await get(`${url}/`)).body).toBe(`ospid:${third}`)
  })

  it('a SIGHUP to a draining generation is refused with a pointer to the serving one', async () => {
    const { fixture, url, pid } = await startServer(app)
    const slow = await fixture.inFlight(`${url}/?sleep=3`)
    fixture.signal('SIGHUP', pid)
    await fixture.ready(2)
    await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
    fixture.signal('SIGHUP', pid)
    await fixture.waitFor(/SIGHUP ignored: this generation is draining; signal the one that serves now/)
    expect((await slow.response).body).toBe(`ospid:${pid}`)
  })

  it('upgrade() resolves with the new generation; a concurrent one rejects with ERR_RELOAD_IN_PROGRESS', async () => {
    // With autoReady off the first upgrade() stays in progress until the new generation calls ready().
    const { fixture, url, pid } = await startServer(app, { env: { WARMUP_MS: '1000' } })
    // Once the new generation listens both accept new connections: the second upgrade() goes on a
    // connection the old one accepted before the handover.
    const agent = keepAliveAgent(url, { maxSockets: 1 })
    await get(`${url}/state`, { agent })
    const first = await fixture.inFlight(`${url}/upgrade`)
    await fixture.waitFor(/starting generation 2 /)
    const second = await get(`${url}/upgrade`, { agent })
    agent.destroy()
    const next = await fixture.ready(2)
    const result = JSON.parse((await first.response).body ?? 'null')
    expect(result).toMatchObject({ pid: next, generation: 2 })
    expect(result.ms).toBeGreaterThan(0)
    expect(JSON.parse(second.body)).toEqual({
      code: 'ERR_RELOAD_IN_PROGRESS',
      message: 'a handover is already in progress; wait for it to finish, then upgrade again'
    })
    await fixture.gone(pid)
    expect(JSON.parse((await get(`${url}/state`)).body)).toEqual({ state: 'ready', generation: 2, hasParent: true })
  })

  it('with autoReady off, the old generation serves until the new one calls ready()', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { WARMUP_MS: '700' } })
    const signalled = Date.now()
    fixture.signal('SIGHUP', pid)
    const { match } = await fixture.waitFor(/starting generation 2 \(child=(\d+)/)
    await fixture.waitFor(new RegExp(`^listening on \\S+ \\(pid ${match[1]}\\)`))
    // The new generation already listens but is not ready: the old one has not stopped accepting.
    expect(fixture.output).not.toMatch(new RegExp(`generation 2 ready|reload\\[${pid}\\]: draining`))
    expect((await get(`${url}/state`)).status).toBe(200)
    const next = await fixture.ready(2)
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(700)
    await fixture.gone(pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
  })

  it('warns when another SIGHUP listener (a shutdown helper) is installed', async () => {
    const { fixture } = await startServer(app, { env: { FOREIGN_HUP: '1' } })
    await fixture.waitFor(/warn: another SIGHUP listener is installed \(a shutdown helper such as close-with-grace\?\)/)
  })

  it('keeps the pid file on the serving generation and removes it at the final exit', async () => {
    const pidFile = join(tempDir(), 'app.pid')
    const { fixture, pid } = await startServer(app, { env: { PID_FILE: pidFile } })
    expect(readFileSync(pidFile, 'utf8')).toBe(`${pid}\n`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${next}\n`)
    await fixture.gone(pid)
    expect(readFileSync(pidFile, 'utf8')).toBe(`${next}\n`)
    fixture.signal('SIGTERM', next)
    await fixture.gone(next)
    expect(existsSync(pidFile)).toBe(false)
  })
})

describe('faults', () => {
  it('the old generation killed mid-handover: the new one still becomes ready and serves the socket', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { WARMUP_MS: '800' } })
    fixture.signal('SIGHUP', pid)
    const { match } = await fixture.waitFor(/starting generation 2 \(child=(\d+)/)
    fixture.signal('SIGKILL', pid)
    await fixture.gone(pid)
    const next = await fixture.ready(2)
    expect(next).toBe(Number(match[1]))
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
    fixture.signal('SIGHUP', next)
    const third = await fixture.ready(3)
    await fixture.gone(next)
    expect((await get(`${url}/`)).body).toBe(`ospid:${third}`)
  })
})

describe('a failed handover leaves the old generation serving', () => {
  it('SIGTERM during a handover stops the new generation before it is ready, then drains', async () => {
    const socket = join(tempDir(), 'app.sock')
    const fixture = startProcess(app, { env: { SOCKET: socket, WARMUP_MS: '3000' } })
    const pid = await fixture.ready(1, 10_000)
    // Taken before the handover starts, so by the old generation: the new one accepts as soon as it listens.
    const { url: path, id } = marked('/?sleep=3')
    const slow = getUnix(socket, path)
    expect(await fixture.arrival(id)).toBe(pid)
    fixture.signal('SIGHUP', pid)
    const { match } = await fixture.waitFor(/starting generation 2 \(child=(\d+)/)
    await fixture.waitFor(/listening on .* \(pid (\d+)\)/, { from: fixture.lines.findIndex((l) => l.text.includes('starting generation 2')) })
    fixture.signal('SIGTERM', pid)
    await fixture.waitFor(new RegExp(`handover failed, pid ${pid} drains: handover to pid ${match[1]} abandoned: this generation is shutting down \\(code=ERR_RELOAD_ABORTED\\)`))
    await fixture.gone(Number(match[1]))
    // The stopped child never served: it leaves the socket path to the generation that owns it.
    expect(existsSync(socket)).toBe(true)
    expect(await slow).toBe(`ospid:${pid}`)
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
    expect(fixture.output).not.toMatch(/generation 2 ready/)
    expect(existsSync(socket)).toBe(false)
  })

  it('new generation crashes before ready: ERR_RELOAD_CHILD_EXITED, and a later SIGHUP succeeds', async () => {
    const failFile = join(tempDir(), 'fail')
    const { fixture, url, pid } = await startServer(app, { env: { FAIL_FILE: failFile } })
    writeFileSync(failFile, 'crash')
    fixture.signal('SIGHUP', pid)
    const { match } = await fixture.waitFor(/error: handover failed, pid (\d+) keeps serving: new generation \(pid \d+\) exited with code 1 before it was ready; see its output above, fix it and reload again \(code=ERR_RELOAD_CHILD_EXITED\)/)
    expect(Number(match[1])).toBe(pid)
    expect(fixture.output).toMatch(/Error: broken build/)
    expect((await get(`${url}/`)).body).toBe(`ospid:${pid}`)
    rmSync(failFile)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
  })

  it('new generation reports a listen error: ERR_RELOAD_CHILD_FAILED, and the child is stopped', async () => {
    const failFile = join(tempDir(), 'fail')
    const { fixture, url, pid } = await startServer(app, { env: { FAIL_FILE: failFile } })
    writeFileSync(failFile, `busy:${new URL(url).port}`)
    fixture.signal('SIGHUP', pid)
    const { match } = await fixture.waitFor(/handover failed, pid \d+ keeps serving: new generation \(pid (\d+)\) failed before it was ready: listen failed: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+; fix it and reload again \(code=ERR_RELOAD_CHILD_FAILED\)/)
    await fixture.gone(Number(match[1]))
    expect((await get(`${url}/`)).body).toBe(`ospid:${pid}`)
    expect(fixture.output).not.toMatch(/generation 2 ready/)
  })

  it('the new generation cannot be spawned: ERR_RELOAD_SPAWN_FAILED', async () => {
    const cwd = tempDir()
    const { fixture, url, pid } = await startServer(app, { env: { APP_CWD: cwd } })
    rmSync(cwd, { recursive: true })
    fixture.signal('SIGHUP', pid)
    await fixture.waitFor(/handover failed, pid \d+ keeps serving: could not start the new generation \(spawn \/bin\/sh ENOENT\); .* \(code=ERR_RELOAD_SPAWN_FAILED\)/)
    expect((await get(`${url}/`)).body).toBe(`ospid:${pid}`)
    expect(JSON.parse((await get(`${url}/state`)).body).state).toBe('ready')
  })
})
