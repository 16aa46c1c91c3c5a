import { rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { ReloadError, removePidFile, removeSocket, stderrLogger, writePidFile, type Logger } from '@reload/core/keeper'
import { CliError } from '../errors.js'
import type { RunOptions } from '../args.js'
import { makeControlDir } from '../control/dir.js'
import { serveControl } from '../control/serve.js'
import type { Keeper } from '../keeper.js'
import type { MetricsServer } from '../metrics.js'
import { notify } from '../notify.js'
import { inFlags, startUp } from '../startup.js'

// What a first start that failed says: the keeper exits, so there is nothing to reload.
function firstStartFailed (err: Error): string {
  return `the first workers did not start: ${inFlags(err.message).replace(/[;,.]? *fix it and reload again\.?$/, '')}; fix it and start again`
}

/**
 * `reload run`: the keeper. After the shared start-up: its control socket, pid file and metrics, then its
 * workers; resolves once they serve (the process then lives until a stop signal).
 */
export async function run (options: RunOptions): Promise<number | undefined> {
  const log: Logger = stderrLogger
  let ready = false
  // A pid file this keeper did not write is another keeper's, or a stale one: never removed here.
  let pidFile: string | undefined
  let metrics: MetricsServer | undefined
  let control: string | undefined
  // A fresh folder of its own, removed at exit.
  let controlDir: string | undefined
  const release = (): void => {
    metrics?.close()
    if (control !== undefined) removeSocket(control)
    if (controlDir !== undefined) try { rmdirSync(controlDir) } catch {}
    if (pidFile !== undefined) removePidFile(pidFile)
  }
  const onReload = (keeper: Keeper, signal: NodeJS.Signals): void => {
    if (!ready) { log.warn({}, `${signal} ignored: the workers are still starting`); return }
    log.info({}, `${signal} received`)
    keeper.reload().catch((err: ReloadError<string>) => { if (err.code !== 'ERR_RELOAD_ROLL_FAILED') log.warn({ code: err.code }, `${signal} ignored: ${err.message}`) })
  }
  const { keeper, held, finish } = await startUp(options, {
    name: 'run',
    log,
    who: 'the keeper (SIGHUP or SIGUSR2 reloads, SIGTERM or SIGQUIT stops)',
    roll: onReload,
    release: (code) => {
      release()
      log.info({ code }, 'keeper exits')
    }
  })
  // Before the keeper runs anything: what went wrong closes what was opened, and is the command's error.
  const failed = (err: unknown): never => {
    for (const h of held) h.close()
    release()
    throw err
  }
  if (options.control !== undefined) {
    control = options.control
  } else {
    let made
    try { made = makeControlDir() } catch (err) { return failed(err) }
    for (const warning of made.warnings) log.warn({}, `control folder: ${warning}`)
    control = join(made.dir, `${process.pid}.sock`)
    if (made.temporary) controlDir = made.dir
  }
  let server
  try { server = await serveControl(keeper, control, log) } catch (err) { return failed(err) }
  server.on('error', (err) => log.warn({}, `control socket: ${err.message}`))
  if (options.pidFile !== undefined) {
    try {
      // However it is launched (`reload run`, `node …/reload.cjs run`), a keeper's command line names reload.
      writePidFile(options.pidFile, process.pid, { unlessHeldBy: /reload/ })
    } catch (err) {
      if (err instanceof ReloadError) return failed(err)
      return failed(new CliError('ERR_RELOAD_PID_FILE', `could not write the pid file ${options.pidFile} (${(err as Error).message}); make its folder writable by this user, or change --pid-file`, { cause: err }))
    }
    pidFile = options.pidFile
  }
  if (options.metrics !== undefined) {
    try {
      // Loaded only when asked for: a keeper without --metrics does not load prom-client at all.
      const { serveMetrics } = await import('../metrics.js')
      metrics = await serveMetrics(keeper, options.metrics, log)
    } catch (err) { return failed(err) }
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
