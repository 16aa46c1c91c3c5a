// `node --import @reload/core/register app.js`, or what `reload run` preloads into each worker: every
// server of an app that knows nothing of reload is attached when it first listens, so it takes its
// inherited listener and drains on SIGTERM. Node has no hook between a server and its listen(), so this
// entry (and only it, on purpose, and only when loaded) wraps net.Server's listen.
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { reloader } from './generation/reloader.js'
import { stashProtocolVars } from './protocol/fds.js'

const marker = Symbol.for('@reload/core/register')
const proto = net.Server.prototype as net.Server & { [marker]?: true }

const self = new Set([import.meta.url, fileURLToPath(import.meta.url)])

// The server's own child processes inherit NODE_OPTIONS: they are not reload's to manage. The process that
// listens is the server; a wrapper that never listens (npm, tsx) keeps it for the server it starts.
function leaveNodeOptions (): void {
  const nodeOptions = process.env.NODE_OPTIONS
  if (nodeOptions === undefined) return
  const rest = nodeOptions.split(/\s+/).filter((option) => !self.has(option.replace(/^--import=/, ''))).join(' ')
  if (rest === '') Reflect.deleteProperty(process.env, 'NODE_OPTIONS')
  else process.env.NODE_OPTIONS = rest
}

if (proto[marker] !== true) {
  const listen = proto.listen as (this: net.Server, ...args: unknown[]) => net.Server
  Object.defineProperty(proto, marker, { value: true })
  proto.listen = function (this: net.Server, ...args: unknown[]) {
    leaveNodeOptions()
    const reload = reloader()
    if (reload.isAttached(this) || reload.isDraining) return listen.apply(this, args)
    reload.attach(this)
    return (this.listen as (...args: unknown[]) => net.Server)(...args)
  } as typeof proto.listen
}

// A keeper's worker, or a generation or socket-activated server: the protocol's variables leave the
// environment now, before the app's first line; the reloader takes them at the first listen().
stashProtocolVars()
