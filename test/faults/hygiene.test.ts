import { once } from 'node:events'
import { chmodSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterEach, describe, expect, it } from 'vitest'
import { get, Load, startProcess, startServer, tempDir, until } from '@reload/test-helpers'
import { app, cleanUp, fdsOf, servedBy, track } from './helpers.js'

afterEach(cleanUp)

describe('hygiene across many handovers', () => {
  it('a unix socket path never disappears across 5 handovers, and keeps its inode, mode and owner', async () => {
    const path = join(tempDir(), 'app.sock')
    const fixture = startProcess(app, { env: { SOCKET: path } })
    const pids = [await fixture.ready(1)]
    chmodSync(path, 0o660)
    const first = lstatSync(path)
    expect(first.isSocket()).toBe(true)
    const load = track(new Load('http://localhost', { socketPath: path, connections: 4 }).start())
    // Every 1 ms for the whole run, handovers and drains included, on a thread of its own: a timer of this
    // thread fires only as often as the load's answers leave it time, which a busy machine made 192 times in a run.
    const was = JSON.stringify({ socket: true, ino: first.ino, mode: first.mode, uid: first.uid, gid: first.gid })
    const flags = new Int32Array(new SharedArrayBuffer(8))
    const poller = new Worker(`
      const { lstatSync } = require('node:fs')
      const { parentPort, workerData: { path, was, flags } } = require('node:worker_threads')
      const missing = []
      const changed = []
      while (Atomics.load(flags, 0) === 0) {
        try {
          const now = lstatSync(path)
          const seen = JSON.stringify({ socket: now.isSocket(), ino: now.ino, mode: now.mode, uid: now.uid, gid: now.gid })
          if (seen !== was) changed.push(seen)
        } catch (err) {
          missing.push(err.code ?? String(err))
        }
        Atomics.add(flags, 1, 1)
        Atomics.wait(flags, 0, 0, 1)
      }
      parentPort.postMessage({ missing, changed })
    `, { eval: true, workerData: { path, was, flags } })
    const polled = once(poller, 'message') as Promise<[{ missing: string[], changed: string[] }]>
    const polls = (): number => Atomics.load(flags, 1)
    // Polls made during each handover, from its SIGHUP until the old pid is gone.
    const during: number[] = []
    try {
      // A thread takes its time to start on a busy machine (CI: none of its polls fell in the first handover).
      await until(() => polls() > 0, 'the first lstat poll of the thread')
      for (let n = 2; n <= 6; n++) {
        const old = pids.at(-1) as number
        await until(() => load.outcomes.filter((o) => o.pid === old).length >= 20, `20 answers from pid ${old}`)
        const before = polls()
        fixture.signal('SIGHUP', old)
        pids.push(await fixture.ready(n))
        await fixture.gone(old)
        during.push(polls() - before)
      }
      const newest = pids.at(-1) as number
      await until(() => load.outcomes.filter((o) => o.pid === newest).length >= 20, `20 answers from pid ${newest}`)
    } finally {
      Atomics.store(flags, 0, 1)
      Atomics.notify(flags, 0)
    }
    const [{ missing, changed }] = await polled
    const outcomes = await load.stop()
    expect(missing).toEqual([])
    expect(changed).toEqual([])
    expect(first.mode & 0o777).toBe(0o660)
    // The poll wakes about once a millisecond, and a handover (a new process's start, the old one's drain) takes
    // hundreds: a floor well below that, for a busy machine, that still shows the poll ran through each one.
    for (const count of during) expect(count).toBeGreaterThanOrEqual(20)
    expect(load.failures).toEqual([])
    expect(Object.keys(servedBy(outcomes)).map(Number).sort()).toEqual([...pids].sort())
    console.info(`unix socket: ${polls()} lstat polls, ${during.join('/')} during the 5 handovers, 0 ENOENT, inode/mode 0${(first.mode & 0o777).toString(8)}/uid ${first.uid}/gid ${first.gid} unchanged; ` +
      `${outcomes.length} requests, ${load.failures.length} failed, served by ${JSON.stringify(servedBy(outcomes))}`)
  })

  // Each handover starts a process: on a busy CI machine, with seven other files running, 50 of them went past 60 s.
  it('after 30 handovers the app\'s children see no LISTEN_*/RELOAD_* variable and no socket, and the newest generation has as many fds as the first', async () => {
    const { fixture, url, pid } = await startServer(app)
    // A file a process has open for a moment (Node reads the CA certificates at some point) is no leak:
    // sockets, pipes and event loop fds are what a handover could leave behind.
    const lasting = (fds: string[]): string[] => fds.filter((fd) => !/^\d+ \/(?!dev\/null)/.test(fd))
    const firstFds = lasting(fdsOf(pid))
    const load = track(new Load(url, { connections: 4 }).start())
    const pids = [pid]
    for (let n = 2; n <= 31; n++) {
      fixture.signal('SIGHUP', pids.at(-1))
      pids.push(await fixture.ready(n))
    }
    const newest = pids.at(-1) as number
    await load.servedBy(newest, 20)
    const outcomes = await load.stop()
    for (const old of pids.slice(0, -1)) await fixture.gone(old)
    // The load's sockets close on the server's side a moment after the client's; then the count settles.
    const settled = await until(() => lasting(fdsOf(newest)).length === firstFds.length, () => `pid ${newest} has ${firstFds.length} fds like pid ${pid}:\n` +
      `first:  ${firstFds.join(', ')}\nnewest: ${lasting(fdsOf(newest)).join(', ')}`, { timeout: 5000 }).then(() => lasting(fdsOf(newest)))
    expect(settled.length).toBe(firstFds.length)
    // What each fd is, not its number or inode: `socket:`, `pipe:`, `anon_inode:[eventfd]`, `/dev/null`.
    const kinds = (fds: string[]): string[] => fds.map((fd) => fd.split(' ')[1]?.replace(/\[\d+\]$/, '') ?? fd).sort()
    expect(kinds(settled)).toEqual(kinds(firstFds))

    const env = (await get(`${url}/env`)).body
    expect(env).not.toMatch(/^(LISTEN|RELOAD)_/m)
    const childFds = env.trim().split('\n').map((line) => line.split(' '))
    expect(childFds.filter(([fd, target]) => Number(fd?.split('/').pop()) > 2 && target?.startsWith('socket:'))).toEqual([])
    expect(childFds.length).toBeGreaterThanOrEqual(3)

    expect(load.failures).toEqual([])
    expect(new Set(outcomes.map((o) => o.pid)).has(newest)).toBe(true)
    console.info(`30 handovers: ${outcomes.length} requests, ${load.failures.length} failed, ${new Set(outcomes.map((o) => o.pid)).size} pids served; ` +
      `fds ${firstFds.length} (pid ${pid}) -> ${settled.length} (pid ${newest}); the app's child: ${childFds.length} fds, none a socket beyond 0-2`)
  }, 180_000)
})
