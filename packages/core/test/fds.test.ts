import { describe, expect, it } from 'vitest'
import { decodeName, encodeName, listenEnv, takeInheritance } from '../src/fds.js'

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

describe('takeInheritance()', () => {
  it('reads fds from 3 with their names and removes every variable of the protocol', () => {
    const env: NodeJS.ProcessEnv = {
      LISTEN_FDS: '2', LISTEN_PID: '42', LISTEN_FDNAMES: 'tcp-127.0.0.1-80:http', RELOAD_READY_FD: '5', RELOAD_GENERATION: '7', HOME: '/root'
    }
    const inherited = takeInheritance(env, 42)
    expect(inherited).toEqual({
      fds: [
        { fd: 3, name: 'tcp-127.0.0.1-80', address: { kind: 'tcp', host: '127.0.0.1', port: 80, anyPort: false }, claimed: false },
        { fd: 4, name: 'http', address: undefined, claimed: false }
      ],
      readyFd: 5,
      generation: 7
    })
    expect(env).toEqual({ HOME: '/root' })
  })

  it('ignores fds whose LISTEN_PID is another process, and still removes the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_PID: '41', RELOAD_READY_FD: '4' }
    expect(takeInheritance(env, 42)).toEqual({ fds: [], readyFd: undefined, generation: 1 })
    expect(env).toEqual({})
  })

  it('names every fd unknown when LISTEN_FDNAMES does not match LISTEN_FDS (systemd passes none by default)', () => {
    const inherited = takeInheritance({ LISTEN_FDS: '2', LISTEN_PID: '9', LISTEN_FDNAMES: 'a' }, 9)
    expect(inherited.fds.map((fd) => fd.name)).toEqual(['unknown', 'unknown'])
  })

  it('ignores a LISTEN_FDS that is not a count', () => {
    expect(takeInheritance({ LISTEN_FDS: 'x', LISTEN_PID: '9' }, 9).fds).toEqual([])
    expect(takeInheritance({ LISTEN_FDS: '-1', LISTEN_PID: '9' }, 9).fds).toEqual([])
  })

  it('finds nothing in an environment without the protocol', () => {
    expect(takeInheritance({ PATH: '/bin' }, 9)).toEqual({ fds: [], readyFd: undefined, generation: 1 })
  })
})

describe('listenEnv()', () => {
  it('round-trips through takeInheritance()', () => {
    const env = { ...listenEnv(['tcp-127.0.0.1-1', 'unix-/tmp/a.sock'], 5, 3), LISTEN_PID: '77' }
    const inherited = takeInheritance(env, 77)
    expect(inherited.fds.map((fd) => [fd.fd, fd.name])).toEqual([[3, 'tcp-127.0.0.1-1'], [4, 'unix-/tmp/a.sock']])
    expect(inherited.readyFd).toBe(5)
    expect(inherited.generation).toBe(3)
  })
})
