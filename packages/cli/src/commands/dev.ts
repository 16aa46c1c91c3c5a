import { existsSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { removeSocket, type Logger, type ReloadError } from '@reload/core/keeper'
import type { RunOptions } from '../args.js'
import { inFlags, startUp } from '../startup.js'
import { defaultIgnores, Watcher } from '../watch.js'

export interface DevOptions extends RunOptions {
  watch: string[]
  ignore: string[]
}

// A save often arrives as several events (write, rename, chmod): one reload for them all.
const DEBOUNCE = 80

function paint (stream: NodeJS.WriteStream): (code: number, text: string) => string {
  const on = stream.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb'
  return (code, text) => on ? `\u001b[${code}m${text}\u001b[0m` : text
}

/**
 * `reload dev`: the keeper with one worker, and a watcher that rolls it over to the new code on every
 * save. A save that fails leaves the old code serving; the next save tries again.
 */
export async function dev (options: DevOptions): Promise<number | undefined> {
  const color = paint(process.stderr)
  const say = (text: string): void => { process.stderr.write(`${color(2, '[reload]')} ${text}\n`) }
  const log: Logger = {
    info () {},
    warn: (_obj, msg) => say(color(33, msg)),
    // A failed roll is said below, shorter.
    error: (obj, msg) => { if ((obj as { code?: string }).code !== 'ERR_RELOAD_ROLL_FAILED') say(color(31, `✗ ${msg}`)) }
  }
  // As under reload run: SIGQUIT stops, SIGUSR1 (which would open Node's inspector in the keeper, not in the
  // app) and SIGALRM are ignored rather than ending the session; SIGHUP and SIGUSR2 roll, as a save does.
  const { keeper, held } = await startUp({ ...options, workers: 1, pidFile: undefined, shutdownDelay: 0 }, {
    name: 'dev',
    log,
    who: 'reload dev',
    roll: (_keeper, signal) => roll(signal),
    release: () => { if (options.control !== undefined) removeSocket(options.control) }
  })
  // Dev-sized drains, and the workers' own lines only when something is wrong.
  process.env.RELOAD_IDLE_GRACE ??= '500'
  process.env.RELOAD_LOG ??= 'warn'

  let changed: string[] = []
  let timer: NodeJS.Timeout | undefined
  let since = 0
  let serving = false
  // One roll at a time; saves during a roll make one more roll after it, with the newest code.
  let rolling = false
  let again: string | undefined
  function roll (why: string): void {
    if (rolling) { again = why; return }
    rolling = true
    const started = since === 0 ? performance.now() : since
    since = 0
    say(`${color(36, '↻')} ${why}`)
    keeper.reload().then((result) => {
      serving = true
      say(`${color(32, '✓')} ready in ${Math.round(performance.now() - started)} ms ${color(2, `(pid ${result.pids.join(', ')})`)}`)
    }, (err: ReloadError) => {
      const why = inFlags((err.cause as Error | undefined)?.message ?? err.message)
      say(`${color(31, '✗')} ${why}`)
      say(serving ? `the old code keeps serving ${color(2, `(pid ${keeper.pids.join(', ')})`)}; save again to retry` : 'waiting for a change to try again')
    }).finally(() => {
      rolling = false
      const next = again
      again = undefined
      if (next !== undefined) roll(next)
    })
  }
  const watcher = new Watcher(options.watch, [...defaultIgnores, ...options.ignore, ...held.map((h) => h.label.replace(/^unix:/, ''))], (path) => {
    if (!changed.includes(path)) changed.push(path)
    if (since === 0) since = performance.now()
    clearTimeout(timer)
    timer = setTimeout(() => {
      // An editor's temporary file is gone by now: name what is there (or what was deleted).
      const present = changed.filter((p) => existsSync(p))
      const files = (present.length > 0 ? present : changed).map((p) => watcher.show(p))
      changed = []
      roll(`${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''} changed`)
    }, DEBOUNCE)
  })
  // nodemon's habit: `rs` and Enter reloads.
  if (process.stdin.readable) {
    createInterface({ input: process.stdin }).on('line', (line) => { if (line.trim() === 'rs') roll('rs') })
  }
  say(`listening on ${held.map((h) => h.label).join(', ')}; watching ${options.watch.join(', ')} (${watcher.folders} folders; ignoring ${[...defaultIgnores, ...options.ignore].join(' ')}); ${color(2, `keeper pid ${process.pid}`)}`)
  const started = performance.now()
  try {
    await keeper.start()
    serving = true
    say(`${color(32, '✓')} ready in ${Math.round(performance.now() - started)} ms ${color(2, '(pid ' + String(keeper.pids.join(', ')) + ')')}`)
  } catch (err) {
    if (keeper.isStopping) return undefined
    say(`${color(31, '✗')} the app did not start: ${inFlags((err as Error).message)}`)
    say('waiting for a change to try again')
  }
  return undefined
}
