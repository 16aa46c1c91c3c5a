import { spawnSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, marked, request, root, startProcess, startServer } from '@reload/test-helpers'

const app = 'test/fixtures/lifecycle-app.js'

describe('lifecycle contract', () => {
  afterEach(closeAll)

  it('Ctrl-C before any server is attached gets Node\'s default: the process ends by SIGINT, not by a drain', async () => {
    const fixture = startProcess(app, { env: { LISTEN_LATER: '1' } })
    await fixture.waitFor(/warming up, nothing attached yet/)
    fixture.signal('SIGINT')
    expect(await fixture.exit).toEqual({ code: null, signal: 'SIGINT' })
    expect(fixture.output).not.toMatch(/draining|exiting/)
  })

  it('a second SIGTERM with exit: false cuts what is left, emits exit with code 1 and leaves the exit to the app', async () => {
    const { fixture, url, pid } = await startServer(app, { env: { EXIT: 'false' } })
    const slow = marked(`${url}/?sleep=30`)
    const outcome = request(slow.url)
    await fixture.waitFor(new RegExp(`request \\S+arrival=${slow.id} pid=${pid}`))
    fixture.signal('SIGTERM', pid)
    await fixture.waitFor(/draining \(requests=1 connections=1\)/)
    fixture.signal('SIGTERM', pid)
    await fixture.waitFor(new RegExp(`exit event code=1 requests=1 \\(pid ${pid}\\)`))
    expect(fixture.output).toMatch(/second SIGTERM: cutting what is left and exiting now/)
    expect(fixture.output).toMatch(/second shutdown signal: cut 1 requests on 1 connections/)
    expect(await fixture.exit).toEqual({ code: 42, signal: null })
    expect((await outcome).error).toBeDefined()
  })

  it('a new generation knows its parent until the parent has drained and exited', async () => {
    const { fixture, url, pid } = await startServer(app)
    await fixture.waitFor(new RegExp(`parent of ${pid}: none`))
    const slow = marked(`${url}/?sleep=1`)
    const outcome = request(slow.url)
    await fixture.waitFor(new RegExp(`arrival=${slow.id} pid=${pid}`))
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.waitFor(new RegExp(`parent of ${next}: ${pid}`))
    const { index } = await fixture.waitFor(new RegExp(`parent ${pid} exited \\(seen by pid ${next}\\)`))
    expect((await outcome).body).toBe(`ospid:${pid}`)
    // Both write to the same stdout pipe: the parent's last words come before its child learns it is gone.
    const exiting = fixture.lines.findIndex((l) => l.text === `exit event code=0 requests=0 (pid ${pid})`)
    expect(exiting).toBeGreaterThanOrEqual(0)
    expect(exiting).toBeLessThan(index)
  })

  it('a Node.js whose internals changed fails at start-up with ERR_RELOAD_NODE_INTERNALS', () => {
    // Stands in for a Node release that no longer keeps the response in progress on its socket.
    const script = `
      import http from 'node:http'
      http.ServerResponse.prototype.assignSocket = function (socket) { this.socket = socket }
      const { reloader } = await import('@reload/core')
      try { reloader() } catch (err) { console.log(err.code + ': ' + err.message) }
    `
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: `${root}test/fixtures`, encoding: 'utf8', timeout: 10_000 })
    expect(result.stdout).toMatch(/^ERR_RELOAD_NODE_INTERNALS: Node\.js v\d+\.\d+\.\d+ changed where a socket keeps its response in progress \(socket\._httpMessage\)/)
  })
})
