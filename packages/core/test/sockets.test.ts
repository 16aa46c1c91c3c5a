import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { inspectFds } from '../src/node/sockets.js'

const fdOf = (handleOwner: object): number => (Reflect.get(handleOwner, '_handle') as { fd: number }).fd

describe('inspectFds()', () => {
  const open: Array<() => void> = []
  afterEach(() => { for (const close of open.splice(0)) close() })

  // The kernel's tables are read a chunk at a time, until every socket asked for is found: on a busy
  // machine, where each connection and TIME_WAIT is a line, listening sockets come first.
  it.runIf(process.platform === 'linux')('finds sockets anywhere in tables of many chunks: a listener, the last connection, a unix listener', async () => {
    const server = net.createServer().listen(0, '127.0.0.1')
    await once(server, 'listening')
    open.push(() => server.close())
    const { port } = server.address() as net.AddressInfo
    const clients: net.Socket[] = []
    for (let i = 0; i < 200; i++) clients.push(net.connect(port, '127.0.0.1'))
    await Promise.all(clients.map(async (c) => await once(c, 'connect')))
    open.push(() => { for (const c of clients) c.destroy() })
    // Each connection is two lines (both ends), of 150 bytes: more than a chunk of 16 KB.
    expect(readFileSync('/proc/self/net/tcp', 'utf8').length).toBeGreaterThan(3 * 16384)
    const path = join(tmpdir(), `reload-sockets-${process.pid}.sock`)
    const unix = net.createServer().listen(path)
    await once(unix, 'listening')
    open.push(() => unix.close())
    const last = clients.at(-1) as net.Socket
    const facts = inspectFds([fdOf(unix), fdOf(last), fdOf(server)])
    expect([...facts.keys()]).toEqual([fdOf(unix), fdOf(last), fdOf(server)])
    expect(facts.get(fdOf(server))).toEqual({ kind: 'tcp', host: '127.0.0.1', port, listening: true, bound: false })
    expect(facts.get(fdOf(last))).toEqual({ kind: 'tcp', host: '127.0.0.1', port: (last.address() as net.AddressInfo).port, listening: false, bound: false })
    expect(facts.get(fdOf(unix))).toEqual({ kind: 'unix', path, listening: true, bound: false })
  })
})
