import dgram from 'node:dgram'
import { closeSync, openSync } from 'node:fs'
import net from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeName, encodeName, listenEnv, readInheritance, takeInheritance, verify, type InheritedFd } from '../src/protocol/fds.js'
import { bindSocket, checkInternals, listeningFd } from '../src/node/internals.js'

describe('encodeName() / decodeName()', () => {
  it.each([
    [{ kind: 'tcp', host: '127.0.0.1', port: 3000, anyPort: false }, 'tcp-127.0.0.1-3000'],
    [{ kind: 'tcp', host: '::1', port: 443, anyPort: false }, 'tcp6-%3A%3A1-443'],
    [{ kind: 'tcp', host: '0.0.0.0', port: 41000, anyPort: true }, 'tcp-0.0.0.0-41000-any'],
    [{ kind: 'tcp', host: 'fe80::1%eth-0', port: 80, anyPort: false }, 'tcp6-fe80%3A%3A1%25eth%2D0-80'],
    [{ kind: 'unix', path: '/run/app:v2/http.sock' }, 'unix-/run/app%3Av2/http.sock']
  ] as const)('%o <-> %s', (address, name) => {
    expect(encodeName(address)).toBe(name)
    expect(name).not.toContain(':')
    expect(decodeName(name)).toEqual(address)
  })

  it.each(['unknown', 'http', 'tcp-127.0.0.1', 'tcp-127.0.0.1-99999', 'unix-', 'stored'])('%s is not one of ours', (name) => {
    expect(decodeName(name)).toBeUndefined()
  })
})

describe('readInheritance()', () => {
  it('reads fds from 3 with their names and removes every variable of the protocol', () => {
    const env: NodeJS.ProcessEnv = {
      LISTEN_FDS: '2', LISTEN_PID: '42', LISTEN_FDNAMES: 'tcp-127.0.0.1-80:http', RELOAD_READY_FD: '5', RELOAD_GENERATION: '7', HOME: '/root'
    }
    const inherited = readInheritance(env, 42)
    expect(inherited).toEqual({
      fds: [
        { fd: 3, name: 'tcp-127.0.0.1-80', address: { kind: 'tcp', host: '127.0.0.1', port: 80, anyPort: false }, claimed: false },
        { fd: 4, name: 'http', address: undefined, claimed: false }
      ],
      warnings: [],
      readyFd: 5,
      generation: 7,
      workers: 1,
      handoff: false
    })
    expect(env).toEqual({ HOME: '/root' })
  })

  it('ignores fds whose LISTEN_PID is another process, and still removes the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_PID: '41', RELOAD_READY_FD: '4' }
    expect(readInheritance(env, 42)).toEqual({ fds: [], warnings: [], readyFd: undefined, generation: 1, workers: 1, handoff: false })
    expect(env).toEqual({})
  })

  it('names every fd unknown when LISTEN_FDNAMES does not match LISTEN_FDS (systemd passes none by default)', () => {
    const inherited = readInheritance({ LISTEN_FDS: '2', LISTEN_PID: '9', LISTEN_FDNAMES: 'a' }, 9)
    expect(inherited.fds.map((fd) => fd.name)).toEqual(['unknown', 'unknown'])
  })

  it.each(['x', '-1', '1000000'])('ignores LISTEN_FDS=%s, which is not a count of fds, and says so', (count) => {
    const inherited = readInheritance({ LISTEN_FDS: count, LISTEN_PID: '9' }, 9)
    expect(inherited.fds).toEqual([])
    expect(inherited.warnings).toEqual([`LISTEN_FDS=${count} is not a count of fds (0 to 1024): ignoring it and every fd it would name; set it to the number of listening sockets passed from fd 3`])
  })

  it('RELOAD_HANDOFF=1 counts only from a keeper: a generation or a socket-activated server accepts itself', () => {
    const base = { LISTEN_FDS: '1', LISTEN_PID: '9', RELOAD_HANDOFF: '1' }
    expect(readInheritance({ ...base, RELOAD_KEEPER: '5', RELOAD_WORKERS: '2' }, 9).handoff).toBe(true)
    expect(readInheritance({ ...base }, 9).handoff).toBe(false)
    const env: NodeJS.ProcessEnv = { ...base, RELOAD_KEEPER: '5' }
    readInheritance(env, 9)
    expect(env).toEqual({})
  })

  it('finds nothing in an environment without the protocol', () => {
    expect(takeInheritance({ PATH: '/bin' }, 9)).toEqual({ fds: [], warnings: [], readyFd: undefined, generation: 1, workers: 1, handoff: false })
  })
})

describe('listenEnv()', () => {
  it('round-trips through takeInheritance()', () => {
    const env = { ...listenEnv(['tcp-127.0.0.1-1', 'unix-/tmp/a.sock'], 5, 3), LISTEN_PID: '77' }
    const inherited = readInheritance(env, 77)
    expect(inherited.fds.map((fd) => [fd.fd, fd.name])).toEqual([[3, 'tcp-127.0.0.1-1'], [4, 'unix-/tmp/a.sock']])
    expect(inherited.readyFd).toBe(5)
    expect(inherited.generation).toBe(3)
  })

  it('names the Node whose internals this process checked, which a child started with it takes and removes', () => {
    checkInternals()
    const env: NodeJS.ProcessEnv = { ...listenEnv(['tcp-127.0.0.1-1'], 5, 2), LISTEN_PID: '77', HOME: '/root' }
    expect(env.RELOAD_NODE_CHECKED).toBe(`${process.version} ${process.execPath}`)
    expect(readInheritance(env, 77).checkedNode).toBe(`${process.version} ${process.execPath}`)
    expect(env).toEqual({ HOME: '/root' })
  })
})

describe('verify()', () => {
  it('says in one line which of many fds are not open', () => {
    const given = [1000, 1001, 1002, 1005].map((fd) => ({ fd, name: 'unknown', address: undefined, claimed: false }))
    expect(verify(given).warnings).toEqual(['LISTEN_FDS: 4 fds are not open (EBADF), fds 1000-1002, fd 1005: ignored; pass only listening sockets, from fd 3 on, and set LISTEN_FDS to their count'])
  })

  const open: Array<() => void> = []
  afterEach(() => { for (const close of open.splice(0)) close() })

  async function listening (host: string): Promise<{ fd: number, port: number }> {
    const server = net.createServer().listen(0, host)
    await once(server, 'listening')
    open.push(() => server.close())
    return { fd: listeningFd(server), port: (server.address() as net.AddressInfo).port }
  }

  function inherited (fd: number, name: string): InheritedFd {
    return { fd, name, address: decodeName(name), claimed: false }
  }

  it('keeps listening TCP sockets, on IPv4 and IPv6, named after their address or not', async () => {
    const [v4, v6] = [await listening('127.0.0.1'), await listening('::1')]
    const given = [inherited(v4.fd, `tcp-127.0.0.1-${v4.port}`), inherited(v6.fd, `tcp6-%3A%3A1-${v6.port}`), inherited(v4.fd, 'http')]
    expect(verify(given)).toEqual({ fds: given, warnings: [] })
  })

  it('goes by a socket\'s own address when its name says another one', async () => {
    const { fd, port } = await listening('127.0.0.1')
    const { fds, warnings } = verify([inherited(fd, `tcp-127.0.0.1-${port + 1}`)])
    expect(fds).toEqual([{ fd, name: `tcp-127.0.0.1-${port}`, address: { kind: 'tcp', host: '127.0.0.1', port, anyPort: false }, claimed: false }])
    expect(warnings).toEqual([`LISTEN_FDS: fd ${fd} (tcp-127.0.0.1-${port + 1}) listens on 127.0.0.1:${port}, not where its name says: going by its address`])
  })

  it('ignores, and never closes, an fd that is not a listening socket: a file, a closed fd, a connected or UDP socket', async () => {
    const file = openSync(new URL(import.meta.url), 'r')
    open.push(() => closeSync(file))
    const { port } = await listening('127.0.0.1')
    const client = net.connect(port, '127.0.0.1')
    await once(client, 'connect')
    open.push(() => client.destroy())
    const udp = dgram.createSocket('udp4').bind(0, '127.0.0.1')
    await once(udp, 'listening')
    open.push(() => udp.close())
    const clientFd = (Reflect.get(client, '_handle') as { fd: number }).fd
    const udpFd = (Reflect.get(udp, '_handle') as { fd: number } | undefined)?.fd ?? (Reflect.get(Reflect.get(udp, Object.getOwnPropertySymbols(udp).find((s) => s.description === 'state-symbol') as symbol) as { handle: { fd: number } }, 'handle').fd)
    const { fds, warnings } = verify([inherited(file, 'unknown'), inherited(1020, 'unknown'), inherited(clientFd, 'unknown'), inherited(udpFd, 'unknown')])
    expect(fds).toEqual([])
    expect(warnings).toEqual([
      `LISTEN_FDS: fd ${file} (unknown) is a regular file: ignored; pass only listening sockets, from fd 3 on, and set LISTEN_FDS to their count`,
      `LISTEN_FDS: fd ${clientFd} (unknown) is a tcp socket that does not listen (127.0.0.1:${(client.address() as net.AddressInfo).port}): ignored; pass listening sockets only`,
      `LISTEN_FDS: fd ${udpFd} (unknown) is neither a TCP nor a unix stream socket: ignored; reload hands over TCP and unix listeners`,
      'LISTEN_FDS: fd 1020 (unknown) is not open (EBADF): ignored; pass only listening sockets, from fd 3 on, and set LISTEN_FDS to their count'
    ])
    // Still open: verify() only looked.
    expect(client.destroyed).toBe(false)
  })
})

describe('a keeper\'s bound sockets', () => {
  it('reads RELOAD_KEEPER and removes it with the rest of the protocol', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '0', LISTEN_PID: '42', RELOAD_KEEPER: '7' }
    expect(readInheritance(env, 42).keeper).toBe(7)
    expect(env).toEqual({})
    expect(readInheritance({ LISTEN_FDS: '0', LISTEN_PID: '42', RELOAD_KEEPER: 'x' }, 42).keeper).toBeUndefined()
  })

  it('keeps a TCP socket that is bound but listens not yet only when a keeper hands it over by name', () => {
    const socket = bindSocket('127.0.0.1', 0, 4)
    try {
      const fd: InheritedFd = { fd: socket.fd, name: encodeName({ kind: 'tcp', host: '127.0.0.1', port: socket.port, anyPort: true }), address: { kind: 'tcp', host: '127.0.0.1', port: socket.port, anyPort: true }, claimed: false }
      expect(verify([fd], true)).toEqual({ fds: [fd], warnings: [] })
      expect(verify([fd], false).fds).toEqual([])
      expect(verify([{ ...fd, name: 'unknown', address: undefined }], true).fds).toEqual([])
    } finally {
      socket.close()
    }
  })

  it('says EADDRINUSE when the port is taken, though libuv would only say it at listen()', async () => {
    const server = net.createServer().listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as net.AddressInfo
      expect(() => bindSocket('127.0.0.1', port, 4)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }))
    } finally {
      server.close()
    }
  })
})
