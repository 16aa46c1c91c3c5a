import { describe, expect, it } from 'vitest'
import { backoff, parseAddress, parseArgs, parseTime } from '../src/index.js'

function usageError (argv: string[]): string {
  try {
    parseArgs(argv)
  } catch (err) {
    expect((err as { code: string }).code).toBe('ERR_RELOAD_USAGE')
    return (err as Error).message
  }
  throw new Error(`no error for ${argv.join(' ')}`)
}

describe('reload command line', () => {
  it('reads every --listen form', () => {
    expect(parseAddress('3000')).toEqual({ kind: 'tcp', host: undefined, port: 3000 })
    expect(parseAddress('127.0.0.1:0')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 })
    expect(parseAddress('localhost:8080')).toEqual({ kind: 'tcp', host: 'localhost', port: 8080 })
    expect(parseAddress('[::1]:443')).toEqual({ kind: 'tcp', host: '::1', port: 443 })
    expect(parseAddress('unix:/run/app.sock')).toEqual({ kind: 'unix', path: '/run/app.sock' })
    expect(parseAddress('unix:app.sock')).toEqual({ kind: 'unix', path: `${process.cwd()}/app.sock` })
  })

  it('refuses an address it cannot read, saying which forms it takes', () => {
    expect(usageError(['run', '--listen', '::1:80', '--', 'node'])).toMatch(/'::1:80' is not an address: use PORT, HOST:PORT, \[IPV6\]:PORT or unix:\/path/)
    expect(usageError(['run', '--listen', '70000', '--', 'node'])).toMatch(/'70000' is not a port \(0 to 65535\)/)
    expect(usageError(['run', '--listen', 'unix:', '--', 'node'])).toMatch(/give the socket's path/)
    expect(usageError(['run', '--listen'])).toMatch(/--listen needs a value/)
  })

  it('reads times in ms, s and m', () => {
    expect(parseTime('--t', '1500')).toBe(1500)
    expect(parseTime('--t', '250ms')).toBe(250)
    expect(parseTime('--t', '1.5s')).toBe(1500)
    expect(parseTime('--t', '2m')).toBe(120_000)
    expect(parseTime('--t', 'Infinity')).toBe(Infinity)
    expect(() => parseTime('--t', '-1')).toThrow(/--t should be a time such as/)
  })

  it('takes the command after --, or from the first word that is not an option', () => {
    const run = parseArgs(['run', '--listen=3000', '--workers', '4', '--', 'node', 'app.js', '--port', '1'])
    expect(run).toMatchObject({ name: 'run', options: { workers: 4, command: ['node', 'app.js', '--port', '1'], preload: true } })
    expect(parseArgs(['run', '--listen', '3000', '--no-preload', 'node', 'app.js'])).toMatchObject({ options: { command: ['node', 'app.js'], preload: false } })
    expect(usageError(['run', '--listen', '3000'])).toMatch(/needs a command to run/)
    expect(usageError(['run', '--frobnicate', '--', 'node'])).toMatch(/reload run has no option --frobnicate/)
    expect(usageError(['status', '--workers', '2'])).toMatch(/reload status has no option --workers/)
    expect(usageError(['reload', 'now'])).toMatch(/reload reload takes no argument 'now'/)
  })

  it('reads the targets of status and reload', () => {
    expect(parseArgs(['status', '--json', '--pid', '123'])).toMatchObject({ name: 'status', json: true, target: { pid: 123 } })
    expect(parseArgs(['reload', '--wait', '--timeout', '30s'])).toMatchObject({ name: 'reload', wait: true, timeout: 30_000 })
    expect(usageError(['status', '--pid', 'abc'])).toMatch(/--pid should be a process id/)
  })

  it('backs off 0, 250 ms, doubling, capped at 10 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoff)).toEqual([0, 250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000])
  })
})
