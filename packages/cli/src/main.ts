import { readFileSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { checkInternals, commandWrapper, ReloadError, removePidFile, removeSocket, stderrLogger, writePidFile, type Logger } from '@reload/core/keeper'
import { CliError } from './errors.js'
import { parseArgs, usage, type RunOptions } from './args.js'
import { dev } from './dev.js'
import { ask, findKeeper, makeControlDir, serveControl } from './control.js'
import { Keeper } from './keeper.js'
import { holdListeners, type Held } from './listen.js'
import type { MetricsServer } from './metrics.js'
import { notify } from './notify.js'
import { status } from './status.js'

/** Runs the `reload` command line; resolves with the exit code (undefined: the process exits on its own). */
export async function main (argv: string[]): Promise<number | undefined> {
  try {
    const command = parseArgs(argv)
    switch (command.name) {
      case 'help': process.stdout.write(usage); return 0
      case 'version': process.stdout.write(`${version()}\n`); return 0
      case 'run': return await run(command.options)
      case 'dev': return await dev(command.options)
      case 'status': return await status(await findKeeper(command.target), command)
      case 'reload': return await reload(await findKeeper(command.target), command.wait, command.timeout)
    }
  } catch (err) {
    if (err instanceof ReloadError) {
      process.stderr.write(`reload: ${err.message} (${err.code})\n`)
      return err.code === 'ERR_RELOAD_USAGE' ? 2 : 1
    }
    throw err
  }
}

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

// How long `reload reload --wait` gives the keeper to acknowledge: it answers at once unless stopped.
const ACCEPT_WITHIN = 10_000

// What a first start that failed says: the keeper exits, so there is nothing to reload.
function firstStartFailed (err: Error): string {
  return `the first workers did not start: ${err.message.replace(/[;,.]? *fix it and reload again\.?$/, '')}; fix it and start again`
}

async function run (options: RunOptions): Promise<number | undefined> {
  const log: Logger = stderrLogger
  // Installed first: Node opens its inspector on SIGUSR1 unless a listener takes the signal, and the
  // default action of SIGALRM ends the process.
  for (const signal of ['SIGUSR1', 'SIGALRM'] as const) process.on(signal, () => log.warn({}, `${signal} ignored: it means nothing to the keeper (SIGHUP or SIGUSR2 reloads, SIGTERM or SIGQUIT stops)`))
  checkInternals()
  // A terminal that hung up fails every write to it; the keeper must outlive its terminal.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  const { held, warnings } = await holdListeners(options.listen)
  for (const warning of warnings) log.warn({}, warning)
  if (held.length === 0) {
    throw new CliError('ERR_RELOAD_USAGE', 'reload run has nothing to listen on: give --listen ADDR (PORT, HOST:PORT, unix:/path), or start it under systemd socket activation')
  }
  const wrapper = wrapperOf(options.command)
  if (wrapper !== undefined) log.warn({ command: options.command.join(' ') }, wrapper)
  let control: string
  // A fresh folder of its own, removed at exit.
  let controlDir: string | undefined
  if (options.control !== undefined) {
    control = options.control
  } else {
    let made
    try {
      made = makeControlDir()
    } catch (err) {
      for (const h of held) h.close()
      throw err
    }
    for (const warning of made.warnings) log.warn({}, `control folder: ${warning}`)
    control = join(made.dir, `${process.pid}.sock`)
    if (made.temporary) controlDir = made.dir
  }
  const keeper = new Keeper(options, held, log)
  let ready = false
  // A pid file this keeper did not write is another keeper's, or a stale one: never removed here.
  let pidFile: string | undefined
  let metrics: MetricsServer | undefined
  const finish = (code: number): void => {
    cleanup(held, control, controlDir, pidFile, metrics)
    log.info({ code }, 'keeper exits')
    process.exit(code)
  }
  const onStop = (signal: NodeJS.Signals): void => { keeper.shutdown(signal).then(finish, () => finish(1)) }
  // SIGQUIT as nginx and unicorn mean it, and as images with STOPSIGNAL SIGQUIT send it: a graceful stop.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(signal, onStop)
  // SIGUSR2 as nodemon and unicorn mean it: a reload.
  const onReload = (signal: NodeJS.Signals): void => {
    if (!ready) { log.warn({}, `${signal} ignored: the workers are still starting`); return }
    log.info({}, `${signal} received`)
    keeper.reload().catch((err: ReloadError<string>) => { if (err.code !== 'ERR_RELOAD_ROLL_FAILED') log.warn({ code: err.code }, `${signal} ignored: ${err.message}`) })
  }
  for (const signal of ['SIGHUP', 'SIGUSR2'] as const) process.on(signal, onReload)
  let server
  try {
    server = await serveControl(keeper, control, log)
  } catch (err) {
    cleanup(held, control, controlDir, undefined)
    throw err
  }
  server.on('error', (err) => log.warn({}, `control socket: ${err.message}`))
  if (options.pidFile !== undefined) {
    try {
      // However it is launched (`reload run`, `node …/reload.js run`), a keeper's command line names reload.
      writePidFile(options.pidFile, process.pid, { unlessHeldBy: /reload/ })
    } catch (err) {
      cleanup(held, control, controlDir, undefined)
      if (err instanceof ReloadError) throw err
      throw new CliError('ERR_RELOAD_PID_FILE', `could not write the pid file ${options.pidFile} (${(err as Error).message}); make its folder writable by this user, or change --pid-file`, { cause: err })
    }
    pidFile = options.pidFile
  }
  if (options.metrics !== undefined) {
    try {
      // Loaded only when asked for: a keeper without --metrics does not load prom-client at all.
      const { serveMetrics } = await import('./metrics.js')
      metrics = await serveMetrics(keeper, options.metrics, log)
    } catch (err) {
      cleanup(held, control, controlDir, pidFile)
      throw err
    }
  }
  log.info({ listening: held.map((h) => h.label).join(','), count: options.workers, control }, `keeper pid ${process.pid} starting ${options.command.join(' ')}`)
  try {
    await keeper.start()
  } catch (err) {
    if (keeper.isStopping) return undefined
    log.error({ code: (err as ReloadError).code }, firstStartFailed(err as Error))
    keeper.shutdown('start failure').then(() => finish(1), () => finish(1))
    return undefined
  }
  ready = true
  notify(`READY=1\nSTATUS=${options.workers === 1 ? 'worker' : `${options.workers} workers`} serving on ${held.map((h) => h.label).join(', ')}`).catch(() => {})
  return undefined
}

/** A warning when `command` starts with a wrapper that will not hand the sockets to the server. */
export function wrapperOf (command: string[]): string | undefined {
  const wrapper = commandWrapper(command)
  if (wrapper === undefined) return undefined
  return `${wrapper.name} starts the server as its own child and does not pass the listening sockets on, so the workers cannot start: ${wrapper.fix}`
}

function cleanup (held: Held[], controlPath: string, controlDir: string | undefined, pidFile: string | undefined, metrics?: MetricsServer): void {
  for (const h of held) h.close()
  metrics?.close()
  removeSocket(controlPath)
  if (controlDir !== undefined) try { rmdirSync(controlDir) } catch {}
  if (pidFile !== undefined) removePidFile(pidFile)
}

async function reload (path: string, wait: boolean, timeout: number): Promise<number> {
  const reply = await ask(path, { command: 'reload', wait }, wait ? { timeout, accept: Math.min(ACCEPT_WITHIN, timeout) } : { timeout })
  if (reply.ok !== true) {
    process.stderr.write(`reload: ${String(reply.message)} (${String(reply.code)})\n`)
    return 1
  }
  if (!wait) {
    process.stdout.write('reload: started (`reload status` shows the workers; `reload reload --wait` waits for the result)\n')
    return 0
  }
  const result = reply.result as { generation: number, pids: number[], ms: number }
  process.stdout.write(`reload: generation ${result.generation} serves (pids ${result.pids.join(', ')}) after ${result.ms} ms\n`)
  return 0
}
