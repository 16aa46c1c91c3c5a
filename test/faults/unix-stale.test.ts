import { existsSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, getUnix, isAlive, startProcess, tempDir, type Fixture } from '@reload/test-helpers'

// Issue "Hardening", case 6: a unix socket file left by a killed process.
const app = 'test/faults/fixtures/hardening-app.js'

afterEach(closeAll)

async function startUnix (socket: string): Promise<{ fixture: Fixture, pid: number }> {
  const fixture = startProcess(app, { env: { SOCKET: socket } })
  const pid = await fixture.ready(1)
  return { fixture, pid }
}

describe('stale unix socket (hardening case 6)', () => {
  it('case 6: a socket file left by a SIGKILLed server is replaced; one a live server listens on is not (EADDRINUSE)', async () => {
    const socket = join(tempDir(), 'app.sock')
    const killed = await startUnix(socket)
    expect(await getUnix(socket)).toBe(`ospid:${killed.pid}`)
    killed.fixture.signal('SIGKILL', killed.pid)
    expect(await killed.fixture.exit).toEqual({ code: null, signal: 'SIGKILL' })
    expect(lstatSync(socket).isSocket()).toBe(true)

    const { fixture, pid } = await startUnix(socket)
    expect(fixture.output).toMatch(new RegExp(`^reload\\[${pid}\\]: warn: replacing a stale unix socket: nothing accepts on it .*\\(path=${socket}\\)$`, 'm'))
    expect(await getUnix(socket)).toBe(`ospid:${pid}`)

    const second = startProcess(app, { env: { SOCKET: socket } })
    await second.waitFor(/^listen failed: EADDRINUSE \(pid \d+\)$/)
    expect(await second.exit).toEqual({ code: 1, signal: null })
    expect(second.output).not.toMatch(/stale|generation 1 ready/)
    expect(isAlive(pid)).toBe(true)
    expect(existsSync(socket)).toBe(true)
    expect(await getUnix(socket)).toBe(`ospid:${pid}`)
  })
})
