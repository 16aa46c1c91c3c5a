import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, get, isAlive, Load, startServer } from '@reload/test-helpers'

afterEach(closeAll)

// Only the soft limit moves: raising it again up to the hard one needs no privilege.
function softNofile (pid: number): string {
  return /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1] ?? '1024'
}

function setSoftNofile (pid: number, soft: string | number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`])
}

describe('a standalone server out of file descriptors at a reload', () => {
  it('EMFILE at SIGHUP is ERR_RELOAD_SPAWN_FAILED: the running generation serves on under load, and the next SIGHUP works once the limit is raised', async () => {
    const { fixture, url, pid } = await startServer('test/fixtures/http-app.js')
    const limit = softNofile(pid)
    const load = new Load(url, { connections: 4 }).start()
    await load.servedBy(pid, 20)
    setSoftNofile(pid, readdirSync(`/proc/${pid}/fd`).length)
    try {
      fixture.signal('SIGHUP', pid)
      await fixture.waitFor(new RegExp(`handover failed, pid ${pid} keeps serving: could not start the new generation \\(spawn /bin/sh EMFILE\\); this process is out of file descriptors.*\\(code=ERR_RELOAD_SPAWN_FAILED\\)`))
      const from = load.outcomes.length
      await load.until((o) => o.slice(from).filter((x) => x.pid === pid).length >= 20, 'the running generation to serve on')
      expect(isAlive(pid)).toBe(true)
    } finally {
      setSoftNofile(pid, limit)
    }
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await load.servedBy(next, 20)
    await load.stop()
    expect(load.failures).toEqual([])
    expect((await get(url)).pid).toBe(next)
  })
})
