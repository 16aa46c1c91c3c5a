import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, statSync, type Stats } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { isStaleSocket, ReloadError, removeSocket, type Logger } from '@reload/core/keeper'
import { CliError } from './errors.js'
import { MAX_SOCKET_PATH, type Target } from './args.js'
import type { Keeper } from './keeper.js'

// One line of JSON each way, except that a `wait` reload is first acknowledged with {"accepted":true}.
// A request: {"command":"status"} or {"command":"reload","wait":true,"deadline":<epoch ms>}.
export interface Request {
  command: 'status' | 'reload'
  wait?: boolean
  /** When the client gives up (epoch ms): the keeper does not run a request it reads after that. */
  deadline?: number
}

// A client that connected must say what it wants at once: an idle connection holds an fd of the keeper.
const IDLE = 5000
// Past this the keeper refuses control connections (the app's sockets are the workers', not counted).
const MAX_CONNECTIONS = 64
const MAX_REQUEST = 4096

function uid (): number { return process.getuid?.() ?? 0 }

/** Why `dir` may not hold control sockets, or undefined: a real folder of this user that only it can open. */
function unsafe (dir: string, stat: Stats): string | undefined {
  if (stat.isSymbolicLink()) return `${dir} is a symlink`
  if (!stat.isDirectory()) return `${dir} is not a folder`
  if (stat.uid !== uid()) return `${dir} belongs to uid ${stat.uid}, not to this user (uid ${uid()})`
  if ((stat.mode & 0o077) !== 0) return `${dir} can be opened by other users (mode ${(stat.mode & 0o777).toString(8)}; it must be 700)`
  return undefined
}

/**
 * The folders a control socket may be in, in order: `$XDG_RUNTIME_DIR/reload` (when that folder is this
 * user's: an inherited one may not be), then `$TMPDIR/reload-UID`. Another local user can make the
 * second one first, so neither is certain; see {@link makeControlDir}.
 */
function fixedDirs (): { dirs: string[], notes: string[] } {
  const dirs: string[] = []
  const notes: string[] = []
  const runtime = process.env.XDG_RUNTIME_DIR
  if (runtime !== undefined && runtime !== '') {
    let why: string | undefined
    try {
      const stat = statSync(runtime)
      if (!isAbsolute(runtime)) why = 'is not an absolute path'
      else if (!stat.isDirectory()) why = 'is not a folder'
      else if (stat.uid !== uid()) why = `belongs to uid ${stat.uid}, not to this user (uid ${uid()})`
    } catch (err) {
      why = `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`
    }
    if (why === undefined) dirs.push(join(runtime, 'reload'))
    else notes.push(`XDG_RUNTIME_DIR=${runtime} ${why}: not used`)
  }
  dirs.push(join(tmpdir(), `reload-${uid()}`))
  return { dirs, notes }
}

// mkdtemp's six random characters.
function isTemporaryName (name: string): boolean {
  return name.startsWith(`reload-${uid()}-`) && /^[A-Za-z0-9]{6}$/.test(name.slice(`reload-${uid()}-`.length))
}

export interface ControlDir {
  dir: string
  /** A fresh folder of this keeper's own, to remove at exit. */
  temporary: boolean
  /** Folders passed over, and why: for the keeper's log. */
  warnings: string[]
}

/**
 * A folder for this keeper's control socket that only this user can open: the first of the usual ones
 * that is (or can be made) so, else a fresh private one in $TMPDIR, which `reload status` finds as well.
 * A folder someone else made is passed over, never an error.
 * @throws {ReloadError} `ERR_RELOAD_CONTROL`, naming each folder tried, when no folder can be made at all.
 */
export function makeControlDir (): ControlDir {
  const { dirs, notes } = fixedDirs()
  const warnings = [...notes]
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { mode: 0o700 })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') {
        warnings.push(`cannot create ${dir} (${code ?? (err as Error).message}): not used`)
        continue
      }
    }
    let why: string | undefined
    try {
      why = unsafe(dir, lstatSync(dir))
    } catch (err) {
      why = `cannot read ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`
    }
    if (why === undefined) return { dir, temporary: false, warnings }
    warnings.push(`${why}: not used (remove it to have it used again)`)
  }
  const prefix = join(tmpdir(), `reload-${uid()}-`)
  try {
    return { dir: mkdtempSync(prefix), temporary: true, warnings }
  } catch (err) {
    const tried = [...warnings, `cannot create ${prefix}XXXXXX (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]
    throw new CliError('ERR_RELOAD_CONTROL', `no folder for the control socket: ${tried.join('; ')}; make $TMPDIR (${tmpdir()}) writable by this user, or pass --control PATH`, { cause: err })
  }
}

/**
 * Every folder `reload status` looks in: the usual ones and the fresh ones keepers made in $TMPDIR, each
 * only if it is a real folder of this user that no one else can open. `skipped` says why a usual one
 * was passed over.
 */
function searchDirs (): { dirs: string[], skipped: string[] } {
  const { dirs: fixed, notes } = fixedDirs()
  let fresh: string[] = []
  try { fresh = readdirSync(tmpdir()).filter(isTemporaryName).sort().map((name) => join(tmpdir(), name)) } catch {}
  const dirs: string[] = []
  const skipped = [...notes]
  for (const dir of [...fixed, ...fresh]) {
    let why: string | undefined
    try {
      why = unsafe(dir, lstatSync(dir))
    } catch {
      continue
    }
    if (why === undefined) dirs.push(dir)
    else if (fixed.includes(dir)) skipped.push(why)
  }
  return { dirs, skipped }
}

function reply (socket: Socket, body: object, end: boolean): void {
  const line = `${JSON.stringify(body)}\n`
  if (end) socket.end(line)
  else socket.write(line)
}

/**
 * Serves `reload status` and `reload reload` on `path` until `close()`: one request per connection, read
 * within 5 s, at most 64 connections at once.
 * @throws {ReloadError} `ERR_RELOAD_CONTROL`, naming the path, when the socket cannot be made.
 */
export function serveControl (keeper: Keeper, path: string, log: Logger): Promise<Server> {
  const bytes = Buffer.byteLength(path)
  if (bytes > MAX_SOCKET_PATH) {
    return Promise.reject(new CliError('ERR_RELOAD_CONTROL', `the control socket path ${path} is ${bytes} bytes, over the ${MAX_SOCKET_PATH} a unix socket path can have: pass a shorter --control PATH, or set TMPDIR to a shorter folder`))
  }
  removeSocket(path)
  const server = createServer((socket) => {
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    // A fixed budget, not an idle one: a byte every few seconds must not hold the connection forever.
    const idle = setTimeout(() => socket.destroy(), IDLE)
    idle.unref()
    socket.once('close', () => clearTimeout(idle))
    let buffer: string | undefined = ''
    socket.on('data', (chunk: string) => {
      // One request per connection: what follows it is not read.
      if (buffer === undefined) return
      buffer += chunk
      const end = buffer.indexOf('\n')
      if (end === -1) {
        if (buffer.length > MAX_REQUEST) socket.destroy()
        return
      }
      const line = buffer.slice(0, end)
      buffer = undefined
      clearTimeout(idle)
      let request: Request
      try { request = JSON.parse(line) as Request } catch { socket.destroy(); return }
      if (typeof request !== 'object' || request === null) { socket.destroy(); return }
      serve(keeper, request, socket, log).catch(() => socket.destroy())
    })
  })
  server.maxConnections = MAX_CONNECTIONS
  let warned = -Infinity
  server.on('drop', () => {
    // A flood of refused connections is one line a minute, not one line each.
    if (Date.now() - warned < 60_000) return
    warned = Date.now()
    log.warn({ max: MAX_CONNECTIONS }, `control socket: ${MAX_CONNECTIONS} connections are open; refusing more until some close (the app's sockets are not affected)`)
  })
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      server.close()
      reject(new CliError('ERR_RELOAD_CONTROL', `cannot open the control socket ${path} (${err.code ?? err.message}): pass another --control PATH, or check that folder's owner and permissions`, { cause: err }))
    }
    server.once('error', failed)
    server.listen(path, () => {
      try {
        chmodSync(path, 0o600)
      } catch (err) {
        failed(err as NodeJS.ErrnoException)
        return
      }
      server.off('error', failed)
      server.unref()
      resolve(server)
    })
  })
}

async function serve (keeper: Keeper, request: Request, socket: Socket, log: Logger): Promise<void> {
  if (typeof request.deadline === 'number' && Date.now() > request.deadline) {
    const late = Date.now() - request.deadline
    log.warn({ late }, `control: a ${String(request.command)} request came in ${late} ms after its client gave up (was the keeper stopped?): not run`)
    reply(socket, { ok: false, code: 'ERR_RELOAD_CONTROL', message: `the keeper read this request ${late} ms after its deadline: not run` }, true)
    return
  }
  if (request.command === 'status') {
    reply(socket, { ok: true, status: await keeper.status() }, true)
    return
  }
  if (request.command === 'reload') {
    const roll = keeper.reload()
    if (request.wait !== true) {
      roll.catch(() => {})
      reply(socket, { ok: true, queued: true }, true)
      return
    }
    // The client knows at once that the roll is on; its result may take as long as the workers do.
    reply(socket, { accepted: true }, false)
    try {
      reply(socket, { ok: true, result: await roll }, true)
    } catch (err) {
      const e = err as ReloadError
      reply(socket, { ok: false, code: e.code, message: e.message }, true)
    }
    return
  }
  reply(socket, { ok: false, code: 'ERR_RELOAD_USAGE', message: `unknown request ${JSON.stringify(request)}` }, true)
}

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
