import { chmodSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { removeSocket, type Logger, type ReloadError } from '@reload/core/keeper'
import { CliError } from '../errors.js'
import { MAX_SOCKET_PATH } from '../values.js'
import type { Keeper } from '../keeper.js'
import { MAX_CONNECTIONS, type Request } from './protocol.js'

// The keeper's side of the control socket: the server, and what it does with each request.

// A client that connected must say what it wants at once: an idle connection holds an fd of the keeper.
const IDLE = 5000
const MAX_REQUEST = 4096

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
