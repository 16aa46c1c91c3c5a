import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isStaleSocket, ReloadError, removeSocket } from '@reload/core/keeper'
import type { Target } from './args.js'
import type { Keeper } from './keeper.js'

// One line of JSON each way. A request: {"command":"status"} or {"command":"reload","wait":true}.
export interface Request { command: 'status' | 'reload', wait?: boolean }

/**
 * The folder of this user's control sockets: `$XDG_RUNTIME_DIR/reload` (systemd makes it private), else
 * `/tmp/reload-UID`. Only its owner may enter it, so only the keeper's user can drive the keeper.
 * @throws {ReloadError} `ERR_RELOAD_CONTROL` when it exists but is someone else's, or open to others.
 */
export function controlDir (create: boolean): string {
  const uid = process.getuid?.() ?? 0
  const runtime = process.env.XDG_RUNTIME_DIR
  const dir = runtime !== undefined && runtime !== '' ? join(runtime, 'reload') : join(tmpdir(), `reload-${uid}`)
  if (create) mkdirSync(dir, { recursive: true, mode: 0o700 })
  let stat
  try { stat = lstatSync(dir) } catch { return dir }
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) {
    throw new ReloadError('ERR_RELOAD_CONTROL', `${dir} must be a folder owned by this user (uid ${uid}) that no one else can open (mode 700); ` +
      'remove it, or pass --control PATH')
  }
  return dir
}

/** Serves `reload status` and `reload reload` on `path` until `close()`. */
export function serveControl (keeper: Keeper, path: string): Promise<Server> {
  removeSocket(path)
  const server = createServer((socket) => {
    socket.setEncoding('utf8')
    let buffer = ''
    socket.on('error', () => {})
    socket.on('data', (chunk: string) => {
      buffer += chunk
      const end = buffer.indexOf('\n')
      if (end === -1) {
        if (buffer.length > 4096) socket.destroy()
        return
      }
      let request: Request
      try { request = JSON.parse(buffer.slice(0, end)) as Request } catch { socket.destroy(); return }
      buffer = ''
      answer(keeper, request).then((reply) => socket.end(`${JSON.stringify(reply)}\n`), () => socket.destroy())
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new ReloadError('ERR_RELOAD_CONTROL', `cannot open the control socket ${path} (${(err as NodeJS.ErrnoException).code ?? err.message}); pass --control PATH`, { cause: err })))
    server.listen(path, () => {
      chmodSync(path, 0o600)
      server.unref()
      resolve(server)
    })
  })
}

async function answer (keeper: Keeper, request: Request): Promise<object> {
  if (request.command === 'status') return { ok: true, status: await keeper.status() }
  if (request.command === 'reload') {
    const roll = keeper.reload()
    if (request.wait !== true) {
      roll.catch(() => {})
      return { ok: true, queued: true }
    }
    try {
      return { ok: true, result: await roll }
    } catch (err) {
      const e = err as ReloadError
      return { ok: false, code: e.code, message: e.message }
    }
  }
  return { ok: false, code: 'ERR_RELOAD_USAGE', message: `unknown request ${JSON.stringify(request)}` }
}

/** Sends one request and resolves with the reply (after `timeout`, rejects). */
export function ask (path: string, request: Request, timeout: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect(path)
    let buffer = ''
    const timer = Number.isFinite(timeout) ? setTimeout(() => { socket.destroy(); reject(new ReloadError('ERR_RELOAD_CONTROL', `no answer from the keeper at ${path} within ${timeout} ms`)) }, timeout) : undefined
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`))
    socket.on('data', (chunk: string) => { buffer += chunk })
    socket.on('end', () => {
      clearTimeout(timer)
      try { resolve(JSON.parse(buffer) as Record<string, unknown>) } catch { reject(new ReloadError('ERR_RELOAD_CONTROL', `the keeper at ${path} closed the control socket without an answer (did it exit?)`)) }
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(new ReloadError('ERR_RELOAD_NO_KEEPER', `no keeper answers at ${path} (${err.code ?? err.message}); is \`reload run\` running, as this user?`, { cause: err }))
    })
  })
}

function stale (path: string): Promise<boolean> {
  return new Promise((resolve) => { isStaleSocket(path, resolve) })
}

/**
 * The control socket of the keeper `target` names: `--control`, the keeper with `--pid` (or the pid in
 * `--pid-file`), or the only keeper of this user.
 * @throws {ReloadError} `ERR_RELOAD_NO_KEEPER` when none (or more than one, with no target) is found.
 */
export async function findKeeper (target: Target): Promise<string> {
  if (target.control !== undefined) return target.control
  let pid = target.pid
  if (pid === undefined && target.pidFile !== undefined) {
    let text: string
    try { text = readFileSync(target.pidFile, 'utf8') } catch (err) {
      throw new ReloadError('ERR_RELOAD_NO_KEEPER', `cannot read the pid file ${target.pidFile} (${(err as NodeJS.ErrnoException).code ?? ''}): is the keeper running with --pid-file there?`)
    }
    pid = Number(text.trim())
  }
  const dir = controlDir(false)
  if (pid !== undefined) return join(dir, `${pid}.sock`)
  let names: string[] = []
  try { names = readdirSync(dir).filter((n) => /^\d+\.sock$/.test(n)) } catch {}
  const live: string[] = []
  for (const name of names) {
    const path = join(dir, name)
    // A keeper killed with SIGKILL leaves its socket behind.
    if (await stale(path)) removeSocket(path)
    else live.push(path)
  }
  if (live.length === 1) return live[0] as string
  if (live.length === 0) throw new ReloadError('ERR_RELOAD_NO_KEEPER', `no keeper of this user is running (no control socket in ${dir}); start one with \`reload run\`, or pass --control PATH`)
  throw new ReloadError('ERR_RELOAD_NO_KEEPER', `${live.length} keepers are running (pids ${live.map((p) => p.replace(/^.*\/(\d+)\.sock$/, '$1')).join(', ')}): say which with --pid PID, --pid-file FILE or --control PATH`)
}
