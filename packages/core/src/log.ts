import { debuglog } from 'node:util'

/** What reload needs of a logger: pino's, Fastify's `app.log`, or anything with the same three methods. */
export interface Logger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** Turned on by `NODE_DEBUG=reload`. */
export const debug = debuglog('reload')

function format (level: string, obj: object, msg: string): string {
  const fields = Object.entries(obj)
    .filter(([key]) => key !== 'err')
    .map(([key, value]) => `${key}=${typeof value === 'string' && /\s/.test(value) ? JSON.stringify(value) : String(value)}`)
  const tag = level === 'info' ? '' : ` ${level}:`
  return `reload[${process.pid}]:${tag} ${msg}${fields.length > 0 ? ` (${fields.join(' ')})` : ''}\n`
}

/** One line per event on stderr, the default when no `logger` option is given. */
export const stderrLogger: Logger = {
  // RELOAD_LOG=warn (what `reload dev` sets for its workers) keeps only what is wrong.
  info: (obj, msg) => { if (process.env.RELOAD_LOG !== 'warn') process.stderr.write(format('info', obj, msg)) },
  warn: (obj, msg) => { process.stderr.write(format('warn', obj, msg)) },
  error: (obj, msg) => { process.stderr.write(format('error', obj, msg)) }
}

/** `console` takes `(obj, msg)` but prints the object first; give it the same single line instead. */
export function toLogger (logger: Logger | Console | false): Logger {
  if (logger === false) return { info () {}, warn () {}, error () {} }
  if (logger === console) {
    return {
      info: (obj, msg) => { console.info(format('info', obj, msg).trimEnd()) },
      warn: (obj, msg) => { console.warn(format('warn', obj, msg).trimEnd()) },
      error: (obj, msg) => { console.error(format('error', obj, msg).trimEnd()) }
    }
  }
  return logger as Logger
}
