import { lstatSync, readdirSync, readFileSync, rmdirSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isStaleSocket, removeSocket } from '@reload/core/keeper'
import { CliError } from '../errors.js'
import type { Target } from '../args.js'
import { isTemporaryName, searchDirs } from './dir.js'
import { MAX_CONNECTIONS, type Request } from './protocol.js'

// The side of `reload status` and `reload reload`: finding a keeper's control socket, and asking it.

/**
 * Sends one request and resolves with the reply. `timeout` bounds the whole exchange; with `accept`, the
 * keeper must acknowledge within `accept` ms, and `timeout` then bounds the wait for the result.
 * The request carries its deadline, so a keeper that reads it too late does not run it.
 */
export function ask (path: string, request: Request, { timeout, accept }: { timeout: number, accept?: number }): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const first = accept ?? timeout
    const deadline = Number.isFinite(first) ? Date.now() + first : undefined
    const socket = connect(path)
    let buffer = ''
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const finish = (outcome: Error | Record<string, unknown>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (outcome instanceof Error) reject(outcome)
      else resolve(outcome)
    }
    const arm = (ms: number, message: string): void => {
      clearTimeout(timer)
      timer = Number.isFinite(ms) ? setTimeout(() => finish(new CliError('ERR_RELOAD_CONTROL', message)), ms) : undefined
    }
    arm(first, `no answer from the keeper at ${path} within ${first} ms: is it stopped (SIGSTOP, a debugger) or swamped? ` +
      'It will not run this request, as it reads it too late; check the keeper, then ask again')
    const line = (text: string): void => {
      let body: Record<string, unknown>
      try {
        body = JSON.parse(text) as Record<string, unknown>
      } catch {
        finish(new CliError('ERR_RELOAD_CONTROL', `the keeper at ${path} answered something that is not JSON: ${text.slice(0, 200)}`))
        return
      }
      if (body.accepted === true) {
        arm(timeout, `the keeper at ${path} took the ${request.command} but has not finished it within ${timeout} ms (--timeout); it goes on: \`reload status\` shows how it went`)
        return
      }
      finish(body)
    }
    socket.setEncoding('utf8')
    let connected = false
    socket.on('connect', () => {
      connected = true
      socket.write(`${JSON.stringify({ ...request, ...(deadline !== undefined && { deadline }) })}\n`)
    })
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf('\n')) !== -1) {
        const text = buffer.slice(0, end)
        buffer = buffer.slice(end + 1)
        line(text)
        if (settled) return
      }
    })
    socket.on('end', () => {
      if (buffer.trim() !== '') line(buffer)
      finish(new CliError('ERR_RELOAD_CONTROL', `the keeper at ${path} closed the control socket without an answer: did it exit, or are ${MAX_CONNECTIONS} control connections open?`))
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Once connected, an error is the keeper closing on us (EPIPE, ECONNRESET): it is there.
      if (connected) {
        finish(new CliError('ERR_RELOAD_CONTROL', `the keeper at ${path} closed the control socket without an answer (${err.code ?? err.message}): did it exit, or are ${MAX_CONNECTIONS} control connections open?`, { cause: err }))
        return
      }
      finish(new CliError('ERR_RELOAD_NO_KEEPER', `no keeper answers at ${path} (${err.code ?? err.message}); is \`reload run\` running, as this user?`, { cause: err }))
    })
  })
}

function stale (path: string): Promise<boolean> {
  return new Promise((resolve) => { isStaleSocket(path, resolve) })
}

function socketsIn (dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => /^\d+\.sock$/.test(n)).map((n) => join(dir, n))
  } catch {
    return []
  }
}

/**
 * The control socket of the keeper `target` names: `--control`, the keeper with `--pid` (or the pid in
 * `--pid-file`), or the only keeper of this user, from every folder a keeper may have put its socket in.
 * @throws {ReloadError} `ERR_RELOAD_NO_KEEPER` when none (or more than one, with no target) is found;
 *   `ERR_RELOAD_CONTROL` when none is found and a usual folder was passed over as unsafe.
 */
export async function findKeeper (target: Target): Promise<string> {
  if (target.control !== undefined) return target.control
  let pid = target.pid
  if (pid === undefined && target.pidFile !== undefined) {
    let text: string
    try { text = readFileSync(target.pidFile, 'utf8') } catch (err) {
      throw new CliError('ERR_RELOAD_NO_KEEPER', `cannot read the pid file ${target.pidFile} (${(err as NodeJS.ErrnoException).code ?? ''}): is the keeper running with --pid-file there?`)
    }
    pid = Number(text.trim())
  }
  const { dirs, skipped } = searchDirs()
  const where = dirs.length === 0 ? 'no control folder of this user exists' : `looked in ${dirs.join(', ')}`
  const passedOver = skipped.length === 0 ? '' : `; passed over ${skipped.join('; ')}`
  const missing = (what: string): never => {
    if (skipped.length > 0) throw new CliError('ERR_RELOAD_CONTROL', `${what} (${where}${passedOver}): a control folder must be one this user owns that no one else can open (mode 700); remove the wrong one, or pass --control PATH`)
    throw new CliError('ERR_RELOAD_NO_KEEPER', `${what} (${where}); start one with \`reload run\`, or pass --control PATH`)
  }
  if (pid !== undefined) {
    for (const dir of dirs) {
      const path = join(dir, `${pid}.sock`)
      try { if (lstatSync(path).isSocket()) return path } catch {}
    }
    return missing(`no control socket of a keeper with pid ${pid}`)
  }
  const live: string[] = []
  for (const dir of dirs) {
    let removed = false
    for (const path of socketsIn(dir)) {
      // A keeper killed with SIGKILL leaves its socket behind.
      if (await stale(path)) {
        removeSocket(path)
        removed = true
      } else {
        live.push(path)
      }
    }
    // Its fresh folder too: no other keeper ever uses it.
    if (removed && isTemporaryName(dir.slice(tmpdir().length + 1))) try { rmdirSync(dir) } catch {}
  }
  if (live.length === 1) return live[0] as string
  if (live.length === 0) return missing('no keeper of this user is running')
  throw new CliError('ERR_RELOAD_NO_KEEPER', `${live.length} keepers are running (pids ${live.map((p) => p.replace(/^.*\/(\d+)\.sock$/, '$1')).join(', ')}): say which with --pid PID, --pid-file FILE or --control PATH`)
}
