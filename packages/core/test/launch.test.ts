import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { findWrapper, launch, parseEnviron, readLaunch, readNulList, withoutProtocol, wrapperWarning } from '../src/protocol/launch.js'

const linux = process.platform === 'linux'
const dirs: string[] = []
afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

function fakeProc (cmdline: string[], environ: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'reload-launch-'))
  dirs.push(dir)
  writeFileSync(join(dir, 'cmdline'), cmdline.map((a) => `${a}\0`).join(''))
  writeFileSync(join(dir, 'environ'), environ.map((e) => `${e}\0`).join(''))
  return dir
}

describe('launch', () => {
  it('parses an environ: NAME=value, the first of two names wins, entries without a name are skipped', () => {
    expect(parseEnviron(['A=1', 'B=x=y', 'A=2', '=C:', 'NOVALUE', 'EMPTY='])).toEqual({ A: '1', B: 'x=y', EMPTY: '' })
  })

  it('drops the protocol variables only', () => {
    const env = { LISTEN_FDS: '1', LISTEN_PID: '2', LISTEN_FDNAMES: 'x', RELOAD_READY_FD: '4', RELOAD_GENERATION: '2', RELOAD_KEEPER: '9', RELOAD_DRAIN_TIMEOUT: '5', PORT: '8' }
    expect(withoutProtocol(env)).toEqual({ RELOAD_DRAIN_TIMEOUT: '5', PORT: '8' })
  })

  it.runIf(linux)('takes argv and environment as the kernel kept them, not as the app changed them', () => {
    const proc = fakeProc(['node', '--env-file=.env', 'server.js', 'arg with space'], ['PATH=/bin', 'LISTEN_FDS=1', 'RELOAD_GENERATION=3', 'PWD=/srv'])
    const read = readLaunch(proc)
    expect(read.source).toBe('kernel')
    expect(read.rawEnv.RELOAD_GENERATION).toBe('3')
    expect(read.command()).toEqual({ file: process.execPath, args: ['--env-file=.env', 'server.js', 'arg with space'], env: { PATH: '/bin', PWD: '/srv' } })
  })

  it.runIf(linux)("this process's launch is its own command line", () => {
    expect(launch.source).toBe('kernel')
    const { args } = launch.command()
    expect(args).toEqual(readNulList('/proc/self/cmdline')?.slice(1))
    expect(args).toEqual(expect.arrayContaining(process.argv.slice(2)))
  })

  it('falls back to process.argv and process.env at each call without /proc', () => {
    const read = readLaunch(join(tmpdir(), 'no-such-proc-dir'))
    expect(read.source).toBe('process')
    expect(read.command()).toEqual({ file: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)], env: withoutProtocol(process.env) })
  })

  it('no wrapper warning under a keeper; none for a parent that is not a wrapper', () => {
    expect(wrapperWarning({ RELOAD_KEEPER: '1' })).toBeUndefined()
    // The test runner's own process is no wrapper.
    expect(findWrapper(process.pid)).toBeUndefined()
  })
})
