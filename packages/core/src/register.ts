// `node --import @reload/core/register app.js` (or `node -r @reload/core/register app.js`), or what `reload run`
// preloads into each worker: every server of an app that knows nothing of reload is attached when it first
// listens, so it takes its inherited listener and drains on SIGTERM. Node has no hook between a server and its
// listen(), so this entry (and only it, on purpose, and only when loaded) wraps net.Server's listen.
//
// Every worker start pays for what this file loads before the app's first line, and for what the first
// listen() loads before the first answer. So this file imports nothing of the reloader, and `pnpm build`
// (scripts/bundle.mjs) makes it one file and the reloader another, one CommonJS file: as ES modules, the
// reloader's 31 files cost a worker about 20 ms more on Node 20. A listen() cannot wait for an import(), so
// the reloader comes by require(), in the same turn. The build also makes this file a CommonJS one
// (dist/register.cjs, the package's `require` condition), which a keeper gives its workers with --require: an
// --import makes Node 20 start its ES module loader before a CommonJS app's first line, 9 ms of the 16 the
// preload cost there.
import { closeSync, readSync, writeSync } from 'node:fs'
import module, { createRequire } from 'node:module'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Reloader } from './generation/reloader.js'
import { requireWithCodeCache } from './codecache.js'
import { stashProtocolVars } from './protocol/fds.js'

// The bundled reloader, set by scripts/bundle.mjs in the bundled copy of this file. tsc's own output (a build
// without that step) takes the ES modules, synchronously too: require(esm) is on from Node 20.19 and 22.12.
declare const RELOAD_BUNDLE: string | undefined
const reloaderFile = typeof RELOAD_BUNDLE === 'string' ? RELOAD_BUNDLE : './generation/reloader.js'

const marker = Symbol.for('@reload/core/register')
// reloader()'s own key: every copy of @reload/core in the process shares the one Reloader there.
const shared = Symbol.for('@reload/core')
const proto = net.Server.prototype as net.Server & { [marker]?: true }

const self = new Set([import.meta.url, fileURLToPath(import.meta.url)])

// NODE_OPTIONS's words as Node reads them: parted by spaces, where a double-quoted part (a backslash in it
// escapes the next character) is one word with a space in it. Each word's text as written, and its value.
function optionWords (text: string): Array<{ written: string, value: string }> {
  return (text.match(/(?:[^\s"]+|"(?:[^"\\]|\\.)*"?)+/g) ?? []).map((written) => ({
    written,
    value: written.replace(/"((?:[^"\\]|\\.)*)"?/g, (_, inside: string) => inside.replace(/\\(.)/g, '$1'))
  }))
}

// The server's own child processes inherit NODE_OPTIONS: they are not reload's to manage. The process that
// listens is the server; a wrapper that never listens (npm, tsx) keeps it for the server it starts. The other
// words stay as written.
function leaveNodeOptions (): void {
  const nodeOptions = process.env.NODE_OPTIONS
  if (nodeOptions === undefined) return
  const rest = optionWords(nodeOptions).filter(({ value }) => !self.has(value.replace(/^--(import|require)=/, ''))).map((w) => w.written).join(' ')
  if (rest === '') Reflect.deleteProperty(process.env, 'NODE_OPTIONS')
  else process.env.NODE_OPTIONS = rest
}

const compile = module as { enableCompileCache?: (dir: string) => unknown, flushCompileCache?: () => void }
// The compile cache a keeper gives its workers (@reload/cli's preload.ts picks the folder). Out of the
// environment, so the app's own children do not write there.
const compileCache = process.env.RELOAD_COMPILE_CACHE
if (compileCache !== undefined) {
  Reflect.deleteProperty(process.env, 'RELOAD_COMPILE_CACHE')
  compile.enableCompileCache?.(compileCache)
}
// Node 20 has no compile cache of its own: there the bundled reloader comes through V8's code cache, by hand.
let saveCodeCache = (): void => {}

let loaded: typeof import('./generation/reloader.js') | undefined

function load (): typeof import('./generation/reloader.js') {
  loaded ??= loadReloader()
  return loaded
}

function loadReloader (): typeof import('./generation/reloader.js') {
  if (typeof RELOAD_BUNDLE === 'string' && compileCache !== undefined && compile.enableCompileCache === undefined) {
    const loaded = requireWithCodeCache(fileURLToPath(new URL(RELOAD_BUNDLE, import.meta.url)), compileCache)
    if (loaded !== undefined) {
      saveCodeCache = loaded.save
      return loaded.exports as typeof import('./generation/reloader.js')
    }
  }
  return createRequire(import.meta.url)(reloaderFile) as typeof import('./generation/reloader.js')
}

// An app that made its reloader already (an adapter, its own reloader() call) has it loaded: nothing to load.
function current (): Reloader {
  const made = (globalThis as { [shared]?: Reloader })[shared]
  if (made !== undefined) return made
  return load().reloader()
}

let flushed = false
// Node writes its cache at exit, and a roll starts the next worker before the old one exits (a crashed one
// never does): what the app loaded to start is written once it has had a second to listen.
function flushSoon (): void {
  if (flushed || compileCache === undefined) return
  flushed = true
  setTimeout(() => {
    compile.flushCompileCache?.()
    saveCodeCache()
  }, 1000).unref()
}

if (proto[marker] !== true) {
  const listen = proto.listen as (this: net.Server, ...args: unknown[]) => net.Server
  Object.defineProperty(proto, marker, { value: true })
  proto.listen = function (this: net.Server, ...args: unknown[]) {
    leaveNodeOptions()
    flushSoon()
    const reload = current()
    if (reload.isAttached(this) || reload.isDraining) return listen.apply(this, args)
    reload.attach(this)
    return (this.listen as (...args: unknown[]) => net.Server)(...args)
  } as typeof proto.listen
}

// A keeper's spare (RELOAD_HOLD): read before the protocol's variables leave the environment. Only the process
// the listeners are for holds: a wrapper in between would hold the server it starts.
const holdFd = process.env.LISTEN_PID === String(process.pid) ? Number(process.env.RELOAD_HOLD) : Number.NaN

// A keeper's worker, or a generation or socket-activated server: the protocol's variables leave the
// environment now, before the app's first line; the reloader takes them at the first listen().
stashProtocolVars()

// Says the keeper may start this command as a spare: HOLDS=1 before READY=1 (parent.ts).
Object.defineProperty(globalThis, Symbol.for('@reload/core/holds'), { value: true, configurable: true })

// A spare waits here, before the app's first line, with Node booted and the reloader loaded, until the keeper
// needs a worker (a byte on the hold socket) or no longer wants it (the socket's end). Synchronously: a
// --require preload cannot await, and nothing else of this process may run meanwhile.
function hold (fd: number): void {
  try { load() } catch {}
  let read = 0
  const byte = Buffer.alloc(1)
  try {
    writeSync(fd, 'HELD\n')
    for (;;) {
      try {
        read = readSync(fd, byte, 0, 1, null)
        break
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code !== 'EAGAIN' && code !== 'EINTR') throw err
        // A socket left non-blocking: sleep rather than spin.
        if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
      }
    }
  } catch {}
  try { closeSync(fd) } catch {}
  if (read === 0) process.exit(0)
}

if (Number.isSafeInteger(holdFd) && holdFd > 2) hold(holdFd)
