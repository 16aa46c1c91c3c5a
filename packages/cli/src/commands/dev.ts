import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { removeSocket, type Logger } from '@reload/core/keeper'
import type { RunOptions } from '../args.js'
import { DevRolls, loadsAfterSave } from '../dev-roll.js'
import { Spares } from '../dev-spare.js'
import { inFlags, startUp } from '../startup.js'
import { defaultIgnores, Saves, Watcher } from '../watch.js'

export interface DevOptions extends RunOptions {
  watch: string[]
  ignore: string[]
}

// A save arrives as several events within a millisecond or two (a truncate and a write; an editor's temporary
// file, rename and chmod): one roll for them all, once they have been quiet this long. The roll starts a
// worker that is already running (see dev-roll.ts), so this wait is most of what a save costs.
const QUIET = 10

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
  // The next worker waits for the save for as long as the developer types: the ready timeout counts from the
  // save, in DevRolls.
  const { keeper, held } = await startUp({ ...options, workers: 1, pidFile: undefined, shutdownDelay: 0, readyTimeout: Infinity }, {
    name: 'dev',
    log,
    who: 'reload dev',
    // A signal, as `rs`, asks for a worker started now: the one waiting may have booted before what changed.
    roll: (_keeper, signal) => { rolls.save(signal, { fresh: true }) },
    release: () => {
      spares?.close()
      if (options.control !== undefined) removeSocket(options.control)
    }
  })
  // Dev-sized drains, and the workers' own lines only when something is wrong.
  process.env.RELOAD_IDLE_GRACE ??= '500'
  process.env.RELOAD_LOG ??= 'warn'
  const rolls = new DevRolls(keeper, options, {
    rolling: (why) => say(`${color(36, '↻')} ${why}`),
    ready: (ms, pids) => say(`${color(32, '✓')} ready in ${Math.round(ms)} ms ${color(2, `(pid ${pids.join(', ')})`)}`),
    failed: (message, first, serving) => {
      if (first) {
        say(`${color(31, '✗')} the app did not start: ${inFlags(message)}`)
        say('waiting for a change to try again')
        return
      }
      say(`${color(31, '✗')} ${inFlags(message)}`)
      say(serving ? `the old code keeps serving ${color(2, `(pid ${keeper.pids.join(', ')})`)}; save again to retry` : 'waiting for a change to try again')
    }
  })
  let spares: Spares | undefined
  try {
    spares = new Spares((spare) => { rolls.spare(spare) })
    await spares.listen()
    spares.env(process.env)
  } catch (err) {
    spares?.close()
    spares = undefined
    log.warn({}, `each save starts a worker from scratch: the next one cannot wait for it (${(err as Error).message})`)
  }
  const saves = new Saves(QUIET, (changed, since) => {
    // An editor's temporary file is gone by now: name what is there (or what was deleted).
    const present = changed.filter((p) => existsSync(p))
    const files = (present.length > 0 ? present : changed).map((p) => watcher.show(p))
    rolls.save(`${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''} changed`, { since, fresh: !changed.every(loadsAfterSave) })
  })
  const watcher = new Watcher(options.watch, [...defaultIgnores, ...options.ignore, ...held.map((h) => h.label.replace(/^unix:/, ''))], (path) => { saves.add(path) })
  // nodemon's habit: `rs` and Enter reloads.
  if (process.stdin.readable) {
    createInterface({ input: process.stdin }).on('line', (line) => { if (line.trim() === 'rs') rolls.save('rs', { fresh: true }) })
  }
  say(`listening on ${held.map((h) => h.label).join(', ')}; watching ${options.watch.join(', ')} (${watcher.folders} folders; ignoring ${[...defaultIgnores, ...options.ignore].join(' ')}); ${color(2, `keeper pid ${process.pid}`)}`)
  await rolls.start()
  return undefined
}
