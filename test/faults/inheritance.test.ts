import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, get, nodeArgs, socketActivate, requires, root, startServer, tempDir } from '@reload/test-helpers'

// Issue "Hardening", case 5: what LISTEN_FDS names is checked before reload listens on it or closes it.
// A wrong count or fd is a warning, never a listen on (or a close of) a file, a missing fd, or an fd of
// Node's own (its event loop, its pipes), which are the fds from 3 on when nothing was passed.
const app = join(root, 'test/faults/fixtures/hardening-app.js')

afterEach(closeAll)

/** `sh -c '<prepare>; export LISTEN_FDS=<count> LISTEN_PID=$$; exec node app'`: the app with `count` claimed from fd 3. */
function withListenFds (prepare: string, count: string): string[] {
  return ['-c', `${prepare}export LISTEN_FDS=${count} LISTEN_PID=$$; exec "$@"`, 'sh', ...nodeArgs(app)]
}

/** SIGHUP three times: each new generation serves and each old one exits; nothing aborts. */
async function survivesThreeReloads (fixture: Fixture, url: string, first: number): Promise<void> {
  let pid = first
  for (let generation = 2; generation <= 4; generation++) {
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(generation)
    await fixture.gone(pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
    pid = next
  }
  expect(await fixture.exit).toEqual({ code: 0, signal: null })
  expect(fixture.output).not.toMatch(/abort|Assertion|core dumped|handover failed|exited with|listen failed/i)
}

describe('bad LISTEN_FDS (hardening case 5)', () => {
  it.for([
    ['fd 3 is a regular file', 'exec 3<"$FILE"; ', '1', /LISTEN_FDS: fd 3 \(unknown\) is a regular file: ignored/],
    ['fd 3 was not passed (Node\'s own fd 3 is there)', 'exec 3<&-; ', '1', /LISTEN_FDS: fd 3 \(unknown\) is not a socket: ignored/],
    ['LISTEN_FDS=1000 (fds from 3 on are Node\'s own, then none)', '', '1000', /LISTEN_FDS: \d+ fds are not open \(EBADF\), (fds? \d+(-\d+)?, )*fds \d+-1002: ignored/],
    ['LISTEN_FDS=100000, not a count', '', '100000', /LISTEN_FDS=100000 is not a count of fds \(0 to 1024\): ignoring it and every fd it would name/]
  ] as const)('case 5: %s: a warning, the app serves where it asked, and survives 3 reloads', async ([, prepare, count, warning]) => {
    const file = join(tempDir(), 'not-a-socket')
    writeFileSync(file, 'not a socket\n')
    const { fixture, url, pid } = await startServer('', { command: '/bin/sh', args: withListenFds(prepare, count), env: { FILE: file } })
    expect(fixture.child.pid).toBe(pid)
    expect(fixture.output).toMatch(new RegExp(`^reload\\[${pid}\\]: warn: ${warning.source}`, 'm'))
    expect(fixture.output).toMatch(new RegExp(`reload\\[${pid}\\]: generation 1 ready \\(generation=1 listening=tcp-127\\.0\\.0\\.1-${new URL(url).port}-any\\)`))
    expect((await get(`${url}/`)).body).toBe(`ospid:${pid}`)
    await survivesThreeReloads(fixture, url, pid)
  })

  it('case 5: LISTEN_FDS=3 with one listening socket: fds 4 and 5, Node\'s own, are left alone', async (ctx) => {
    await requires(ctx, 'systemd-socket-activate')
    const { fixture, port } = await socketActivate((port) => ['-E', `PORT=${port}`, '/bin/sh', ...withListenFds('', '3')])
    const url = `http://127.0.0.1:${port}`
    // systemd-socket-activate starts the app on the first connection, by exec: same pid.
    const first = await get(`${url}/`)
    const pid = await fixture.ready(1)
    expect(first.body).toBe(`ospid:${pid}`)
    for (const fd of [4, 5]) {
      expect(fixture.output).toMatch(new RegExp(`^reload\\[${pid}\\]: warn: LISTEN_FDS: fd ${fd} \\(unknown\\) is .*: ignored`, 'm'))
      expect(existsSync(`/proc/${pid}/fd/${fd}`)).toBe(true)
    }
    expect(fixture.output).not.toMatch(/LISTEN_FDS: fd 3/)
    expect(fixture.output).toMatch(new RegExp(`reload\\[${pid}\\]: generation 1 ready \\(generation=1 listening=unknown\\)`))
    await survivesThreeReloads(fixture, url, pid)
  })

  it('case 5: a socket named tcp-127.0.0.1-<P+1> that listens on P is taken by its address, and named P from then on', async (ctx) => {
    await requires(ctx, 'systemd-socket-activate')
    const { fixture, port } = await socketActivate((port) => [`--fdname=tcp-127.0.0.1-${port + 1}`, '-E', `PORT=${port}`, ...nodeArgs(app)])
    const url = `http://127.0.0.1:${port}`
    const first = await get(`${url}/`)
    const pid = await fixture.ready(1)
    expect(first.body).toBe(`ospid:${pid}`)
    const warning = `reload[${pid}]: warn: LISTEN_FDS: fd 3 (tcp-127.0.0.1-${port + 1}) listens on 127.0.0.1:${port}, not where its name says: going by its address`
    expect(fixture.index(warning)).toBeGreaterThanOrEqual(0)
    expect(fixture.output).toContain(`reload[${pid}]: generation 1 ready (generation=1 listening=tcp-127.0.0.1-${port})`)
    await survivesThreeReloads(fixture, url, pid)
    expect(fixture.output).toContain('generation 4 ready (generation=4 ')
    const others = fixture.lines.filter((l) => l.text !== warning).map((l) => l.text)
    expect(others.filter((text) => text.includes(`-${port + 1}`) || text.includes(`:${port + 1}`))).toEqual([])
    expect(others.filter((text) => text.includes(`listening=tcp-127.0.0.1-${port})`))).toHaveLength(4)
  })
})
