import { describe, expect, it } from 'vitest'
import { parseAddress, parseArgs, parseTime } from '../src/index.js'
import { backoff } from '../src/slots.js'
import { misplacedOptions, shellLine } from '../src/args.js'
import { parseSize } from '../src/values.js'
import { nothingToListen, portFromEnv } from '../src/startup.js'
import { help, usage } from '../src/usage.js'

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
    expect(run).toMatchObject({ name: 'run', options: { workers: 4, command: ['node', 'app.js', '--port', '1'], preload: true, spare: true } })
    expect(parseArgs(['run', '--listen', '3000', '--no-preload', 'node', 'app.js'])).toMatchObject({ options: { command: ['node', 'app.js'], preload: false } })
    // A spare for `reload run` unless told otherwise; `reload dev` has its own waiting worker.
    expect(parseArgs(['run', '--no-spare', 'node', 'app.js'])).toMatchObject({ options: { command: ['node', 'app.js'], spare: false } })
    expect(parseArgs(['dev', 'node', 'app.js'])).toMatchObject({ options: { spare: false } })
    expect(usageError(['dev', '--no-spare', 'node'])).toMatch(/reload dev has no option --no-spare \(an option of reload run\)/)
    expect(usageError(['run', '--listen', '3000'])).toMatch(/needs a command to run/)
    expect(usageError(['run', '--frobnicate', '--', 'node'])).toMatch(/reload run has no option --frobnicate/)
    expect(usageError(['status', '--workers', '2'])).toMatch(/reload status has no option --workers/)
    expect(usageError(['reload', 'now'])).toMatch(/reload reload takes no argument 'now'/)
  })

  it('reads the targets of status and reload', () => {
    expect(parseArgs(['status', '--json', '--pid', '123'])).toMatchObject({ name: 'status', json: true, target: { pid: 123 } })
    expect(parseArgs(['reload', '--wait', '--timeout', '30s'])).toMatchObject({ name: 'reload', wait: true, timeout: 30_000 })
    expect(usageError(['status', '--pid', 'abc'])).toMatch(/--pid should be a process id \(the keeper's: its log says `keeper pid N`\), instead got 'abc'; with one keeper running, leave --pid out/)
    expect(usageError(['reload', '--pid', '0'])).toMatch(/--pid should be a process id .*instead got '0'/)
    // A keeper started as a container's first process is pid 1.
    expect(parseArgs(['reload', '--pid', '1'])).toMatchObject({ name: 'reload', target: { pid: 1 } })
  })

  it('reads --help and -h for reload and for each command, anywhere among its options', () => {
    for (const argv of [[], ['help'], ['--help'], ['-h']]) expect(parseArgs(argv)).toEqual({ name: 'help', command: undefined })
    for (const name of ['run', 'dev', 'status', 'reload'] as const) {
      expect(parseArgs([name, '--help'])).toEqual({ name: 'help', command: name })
      expect(parseArgs([name, '-h'])).toEqual({ name: 'help', command: name })
      expect(parseArgs(['help', name])).toEqual({ name: 'help', command: name })
      expect(help[name]).toMatch(new RegExp(`^Usage: reload ${name} `))
      expect(help[name]).toMatch(/\n {2}-h, --help {15}this help\n/)
      expect(help[name]).toMatch(new RegExp(`\nExample:\n {2}reload ${name} .*\n$`))
    }
    expect(parseArgs(['run', '--listen', '3000', '--help', '--', 'node'])).toEqual({ name: 'help', command: 'run' })
    // After the command, --help is the command's own.
    expect(parseArgs(['run', '--listen', '3000', '--', 'node', 'app.js', '--help'])).toMatchObject({ name: 'run', options: { command: ['node', 'app.js', '--help'] } })
    expect(help.run).toMatch(/--workers N/)
    expect(help.dev).toMatch(/--drain-timeout TIME +how long the old code may finish its requests \(default 5s\)/)
    expect(help.dev).not.toMatch(/--workers/)
    expect(help.status).toMatch(/--pid PID/)
    expect(help.reload).toMatch(/--wait /)
    expect(parseArgs(['--version'])).toEqual({ name: 'version' })
    expect(parseArgs(['-v'])).toEqual({ name: 'version' })
  })

  it('says what to type for a command it does not know', () => {
    expect(usageError(['frobnicate'])).toMatch(/^unknown command 'frobnicate': the commands are run, dev, status and reload; see `reload --help`$/)
    expect(usageError(['--listen', '3000', '--', 'node', 'app.js'])).toMatch(/^'--listen' is an option of reload run, and options come after the command's name: reload run --listen 3000 -- node app\.js;/)
    expect(usageError(['node', 'app.js'])).toMatch(/; to run it as a server, say reload run --listen PORT -- node app\.js;/)
    expect(usageError(['server.mjs'])).toMatch(/; to run it as a server, say reload run --listen PORT -- node server\.mjs;/)
    expect(usageError(['dev', '--workers', '2', '--', 'node'])).toMatch(/^reload dev has no option --workers \(an option of reload run\)/)
    expect(usageError(['status', '--listen', '3000'])).toMatch(/^reload status has no option --listen \(an option of reload run and reload dev\)/)
  })

  it('finds reload\'s options written after the command, and puts them before it', () => {
    expect(parseArgs(['run', 'node', 'app.js', '--listen', '127.0.0.1:8084'])).toMatchObject({
      options: { listen: [], command: ['node', 'app.js', '--listen', '127.0.0.1:8084'], misplaced: { options: ['--listen', '127.0.0.1:8084'], line: ['reload', 'run', '--listen', '127.0.0.1:8084', '--', 'node', 'app.js'] } }
    })
    expect(parseArgs(['run', '--listen', '3000', '--', 'node', 'app.js'])).toMatchObject({ options: { misplaced: undefined } })
    // Options of reload's before the command stay first; a switch takes no value; --workers is no option of dev.
    expect(misplacedOptions('dev', ['--watch', 'src'], ['node', 'app.js', '--no-preload', '--listen=3000', '--workers', '2', 'x y'])).toEqual({
      options: ['--no-preload', '--listen=3000'],
      line: ['reload', 'dev', '--watch', 'src', '--no-preload', '--listen=3000', '--', 'node', 'app.js', '--workers', '2', 'x y']
    })
    expect(misplacedOptions('run', [], ['node', 'app.js', '--port', '3000'])).toBeUndefined()
    // The first word is the program, whatever its name.
    expect(misplacedOptions('run', [], ['--listen'])).toBeUndefined()
    expect(shellLine(['reload', 'run', '--', 'node', '-e', "console.log('hi')", 'a b'])).toBe("reload run -- node -e 'console.log('\\''hi'\\'')' 'a b'")
  })

  it('says where the options go when nothing is left to listen on; reads $PORT', () => {
    const run = parseArgs(['run', 'node', 'app.js', '--listen', '127.0.0.1:8084', '--workers', '2'])
    if (run.name !== 'run') throw new Error(run.name)
    expect(nothingToListen('run', run.options).message).toBe('reload run has nothing to listen on: --listen 127.0.0.1:8084 --workers 2 came after the command, ' +
      'which gets everything written after it; reload\'s options go before the command (and before --): reload run --listen 127.0.0.1:8084 --workers 2 -- node app.js')
    const plain = parseArgs(['dev', '--', 'node', 'app.js'])
    if (plain.name !== 'dev') throw new Error(plain.name)
    expect(nothingToListen('dev', plain.options).message).toBe('reload dev has nothing to listen on: give --listen ADDR (PORT, HOST:PORT, unix:/path), or set PORT')
    expect(nothingToListen('dev', plain.options).code).toBe('ERR_RELOAD_USAGE')
    expect(portFromEnv('8084')).toEqual({ kind: 'tcp', host: undefined, port: 8084 })
    expect(portFromEnv('0')).toEqual({ kind: 'tcp', host: undefined, port: 0 })
    expect(portFromEnv(undefined)).toBeUndefined()
    expect(portFromEnv('')).toBeUndefined()
    expect(() => portFromEnv('http')).toThrow(/^PORT is 'http', not a port \(0 to 65535\), and no --listen was given: set PORT to a port, or give --listen ADDR$/)
    expect(() => portFromEnv('70000')).toThrow(/not a port/)
  })

  it('reads --liveness-timeout: 10 s for run, off for dev, off as a value, nothing under 100 ms', () => {
    expect(parseArgs(['run', '--listen', '3000', '--', 'node'])).toMatchObject({ options: { livenessTimeout: 10_000, maxMemory: undefined } })
    expect(parseArgs(['dev', '--listen', '3000', '--', 'node'])).toMatchObject({ options: { livenessTimeout: Infinity } })
    expect(parseArgs(['run', '--liveness-timeout', '3s', '--', 'node'])).toMatchObject({ options: { livenessTimeout: 3000 } })
    expect(parseArgs(['run', '--liveness-timeout=off', '--', 'node'])).toMatchObject({ options: { livenessTimeout: Infinity } })
    expect(parseArgs(['dev', '--liveness-timeout', '30s', '--', 'node'])).toMatchObject({ options: { livenessTimeout: 30_000 } })
    expect(parseArgs(['run', '--liveness-timeout', '100ms', '--', 'node'])).toMatchObject({ options: { livenessTimeout: 100 } })
    expect(usageError(['run', '--liveness-timeout', '0', '--', 'node'])).toMatch(/--liveness-timeout 0 would replace every worker at once: to turn the check off, say --liveness-timeout off/)
    expect(usageError(['run', '--liveness-timeout', '99', '--', 'node'])).toMatch(/--liveness-timeout should be at least 100 ms, instead got '99'/)
    expect(usageError(['run', '--liveness-timeout', 'soon', '--', 'node'])).toMatch(/--liveness-timeout should be a time such as/)
    expect(usageError(['status', '--liveness-timeout', '1s'])).toMatch(/reload status has no option --liveness-timeout/)
  })

  it('reads --max-memory in bytes, K, M or G (1024-based, any case, with B or iB), or off; nothing under 16M', () => {
    expect(parseSize('--m', '16777216')).toBe(16 * 1024 ** 2)
    expect(parseSize('--m', '512M')).toBe(512 * 1024 ** 2)
    expect(parseSize('--m', '512mb')).toBe(512 * 1024 ** 2)
    expect(parseSize('--m', '512MiB')).toBe(512 * 1024 ** 2)
    expect(parseSize('--m', '65536k')).toBe(64 * 1024 ** 2)
    expect(parseSize('--m', '65536KiB')).toBe(64 * 1024 ** 2)
    expect(parseSize('--m', '1.5G')).toBe(1.5 * 1024 ** 3)
    expect(parseSize('--m', '2gb')).toBe(2 * 1024 ** 3)
    expect(parseSize('--m', 'off')).toBeUndefined()
    expect(parseArgs(['run', '--max-memory', '256M', '--', 'node'])).toMatchObject({ options: { maxMemory: 256 * 1024 ** 2 } })
    expect(parseArgs(['dev', '--max-memory=1G', '--', 'node'])).toMatchObject({ options: { maxMemory: 1024 ** 3 } })
    expect(usageError(['run', '--max-memory', '15M', '--', 'node'])).toMatch(/--max-memory 15M is under 16M, less than a Node worker needs to start; give more, or off/)
    expect(usageError(['run', '--max-memory', '1000', '--', 'node'])).toMatch(/is under 16M/)
    expect(usageError(['run', '--max-memory', '512T', '--', 'node'])).toMatch(/--max-memory should be a size such as 536870912, 512M or 2G, or off, instead got '512T'/)
    expect(usageError(['run', '--max-memory', '-1M', '--', 'node'])).toMatch(/should be a size/)
    expect(usageError(['run', '--max-memory'])).toMatch(/--max-memory needs a value/)
    for (const text of [usage, help.run]) {
      expect(text).toMatch(/--max-memory SIZE .*\n/)
      expect(text).toMatch(/--liveness-timeout TIME .*default 10s; off/)
      expect(text).toMatch(/K, M or G\s+\(1024-based/)
    }
  })

  it('refuses an address given twice, naming it; two port 0 are two ports', () => {
    expect(usageError(['run', '--listen', '18080', '--listen', '18080', '--', 'node'])).toMatch(/--listen 18080 is given twice: give each address once/)
    expect(usageError(['run', '--listen', '127.0.0.1:80', '--listen=127.0.0.1:80', '--', 'node'])).toMatch(/--listen 127\.0\.0\.1:80 is given twice/)
    expect(usageError(['run', '--listen', '[::1]:80', '--listen', '[::1]:80', '--', 'node'])).toMatch(/--listen \[::1\]:80 is given twice/)
    expect(usageError(['run', '--listen', 'unix:/run/a.sock', '--listen', 'unix:/run/b/../a.sock', '--', 'node'])).toMatch(/--listen unix:\/run\/a\.sock is given twice/)
    expect(parseArgs(['run', '--listen', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--', 'node'])).toMatchObject({ options: { listen: [{ port: 0 }, { port: 0 }] } })
    expect(parseArgs(['run', '--listen', '127.0.0.1:80', '--listen', '127.0.0.2:80', '--listen', '80', '--', 'node'])).toMatchObject({ options: { listen: { length: 3 } } })
  })

  it('refuses a unix socket path over 107 bytes, measured once resolved', () => {
    const longest = `/${'a'.repeat(106)}`
    expect(parseAddress(`unix:${longest}`)).toEqual({ kind: 'unix', path: longest })
    expect(usageError(['run', '--listen', `unix:${longest}b`, '--', 'node'])).toMatch(/the socket path \/a+b is 108 bytes, over the 107 a unix socket path can have; choose a shorter path/)
    // Bytes, not characters.
    expect(usageError(['run', '--listen', `unix:/${'é'.repeat(54)}`, '--', 'node'])).toMatch(/is 109 bytes/)
    const relative = 'r'.repeat(108 - process.cwd().length - 1)
    expect(usageError(['run', '--listen', `unix:${relative}`, '--', 'node'])).toMatch(new RegExp(`the socket path ${process.cwd()}/r+ is 108 bytes`))
    expect(usageError(['status', '--control', `/${'c'.repeat(107)}`])).toMatch(/--control \/c+: the socket path \/c+ is 108 bytes/)
  })

  it('gives reload reload a 10 s timeout without --wait, none for the result with it', () => {
    expect(parseArgs(['reload'])).toMatchObject({ name: 'reload', wait: false, timeout: 10_000 })
    expect(parseArgs(['reload', '--timeout', '2s'])).toMatchObject({ wait: false, timeout: 2000 })
    expect(parseArgs(['reload', '--wait'])).toMatchObject({ wait: true, timeout: Infinity })
  })

  it('backs off 0, 250 ms, doubling, capped at 10 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoff)).toEqual([0, 250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000])
  })
})
