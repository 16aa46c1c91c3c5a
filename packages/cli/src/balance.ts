import type { ChildProcess } from 'node:child_process'
import net, { type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { decodeHandoff, HANDOFF_PREFIX, handleOf, hasInternalChannel, onInternal, sendInternal, type Channel, type HandoffMessage, type Logger } from '@reload/core/keeper'
import type { Held } from './listen.js'

/** Whether a keeper of `workers` workers hands connections out: with one, its worker accepts itself (no hop). */
export function balances (workers: number): boolean {
  return workers > 1
}

/** A worker that takes handed connections. */
interface Target {
  pid: number
  process: ChildProcess
  /** The listeners it serves, by position in LISTEN_FDS. */
  listeners: Set<number>
  /** Handed connections it has open, as it last said. */
  open: number
  /** Handed and not yet answered for: when each was sent (performance.now()), oldest first. */
  unanswered: Map<number, number>
  /** Handed since it started: what `reload status` shows of its share. */
  handed: number
}

interface Handed { socket: Socket, listener: number, target: Target }

// What a worker holds, as the keeper counts it: open as it last said, and handed but not yet answered for.
function open (t: Target): number {
  return t.open + t.unanswered.size
}

// A worker that has not answered for a connection handed this long ago is passed over while another can
// take them: a stopped or hung worker gets no more until the keeper replaces it (what it holds then goes
// to another worker, unread). Long enough for a burst of connections on a busy machine.
const ANSWER_WITHIN = 1000
const EXIT_GRACE = 50
// Fewer over its share than this, a worker keeps its connections: not worth a reconnect for.
const SURPLUS = 2
const ERROR_EVERY = 10_000

/**
 * With `--workers` above 1, the keeper accepts every connection itself and hands it to the ready worker
 * with the fewest open, in turn among equals, as Node's cluster module does in turn. Sharing the socket
 * instead leaves the choice to the kernel's wake-ups, which give one worker most keep-alive clients (87%
 * to 100% in measured runs). A connection is the keeper's until a worker says it took it: one handed to a
 * worker that then refused it (its drain began) or died goes to another, and with no worker ready, it
 * waits here as it would in the kernel's backlog.
 */
export class Balancer {
  readonly #held: readonly Held[]
  readonly #log: Logger
  readonly #accepting = new Map<number, Server>()
  readonly #targets = new Map<number, Target>()
  readonly #handed = new Map<number, Handed>()
  readonly #waiting: Array<{ socket: Socket, listener: number }> = []
  #lastId = 0
  #turn = 0

  constructor (held: readonly Held[], log: Logger) {
    this.#held = held
    this.#log = log
  }

  /** How many connections `pid` was handed since it became ready. */
  handedTo (pid: number): number | undefined { return this.#targets.get(pid)?.handed }

  /**
   * `worker` is ready and takes connections for `listeners`. False when it has no channel to take them on
   * (it then accepts on the shared listeners itself).
   */
  serve (worker: { pid: number, process: ChildProcess }, listeners: readonly number[]): boolean {
    const channel = worker.process as unknown as Channel
    if (listeners.length === 0 || !hasInternalChannel(channel)) return false
    const target: Target = { pid: worker.pid, process: worker.process, listeners: new Set(listeners), open: 0, unanswered: new Map(), handed: 0 }
    onInternal(channel, HANDOFF_PREFIX, (message) => { this.#answer(decodeHandoff(message), target) })
    // What it did not take is known once the last message it sent is read: when its channel closes. Node
    // never says so while a handle it sent waits for the worker's acknowledgement (a worker stopped or
    // killed then), so its exit, with time for what its channel still holds, says it too.
    worker.process.once('disconnect', () => { this.#gone(target) })
    worker.process.once('exit', () => { setTimeout(() => { this.#gone(target) }, EXIT_GRACE) })
    this.#targets.set(worker.pid, target)
    for (const listener of listeners) this.#accept(listener)
    for (const { socket, listener } of this.#waiting.splice(0)) this.#route(socket, listener)
    // After the keeper's reaction to this one being ready: the worker it replaces (a hung one, one over its memory
    // cap, an old generation's in a roll) leaves the count first, and gives back all it holds as it drains.
    setImmediate(() => { if (this.#targets.get(target.pid) === target) this.#share(target) })
    return true
  }

  // A worker that becomes ready while the others hold every keep-alive client would get only new connections,
  // for as long as those clients live: after a crash they come back at once to the workers that serve. Each
  // worker over its share is asked to give the surplus back, one connection at its next answer; those clients
  // come back here and go to the worker with the fewest.
  #share (ready: Target): void {
    const targets = [...this.#targets.values()].filter((t) => t.process.connected)
    if (targets.length < 2) return
    const fair = Math.ceil(targets.reduce((sum, t) => sum + open(t), 0) / targets.length)
    for (const t of targets) {
      const surplus = open(t) - fair
      if (t === ready || surplus < SURPLUS) continue
      this.#log.info({ worker: t.pid, count: surplus }, `worker pid ${t.pid} gives back ${surplus} of its ${open(t)} connections, each at its next answer, for the worker that is ready (pid ${ready.pid})`)
      const message: HandoffMessage = { cmd: 'NODE_RELOAD_SHED', id: 0, count: surplus }
      sendInternal(t.process as unknown as Channel, message, undefined, () => {})
    }
  }

  /** `pid` drains (or is being killed): no new connection goes to it. */
  retire (pid: number): void {
    this.#targets.delete(pid)
  }

  #accept (listener: number): void {
    if (this.#accepting.has(listener)) return
    const held = this.#held[listener]
    if (held === undefined) return
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      socket.on('error', () => {})
      this.#route(socket, listener)
    })
    // Out of fds, libuv resets the connection it cannot take; the keeper goes on, and says so once per 10 s,
    // not once per connection.
    let said = -Infinity
    let since = 0
    server.on('error', (err) => {
      since++
      if (performance.now() - said < ERROR_EVERY) return
      this.#log.warn({ listener: held.label, count: since }, `accepting on ${held.label}: ${err.message}${(err as NodeJS.ErrnoException).code === 'EMFILE' ? ' (the keeper holds each connection until a worker takes it: raise its fd limit)' : ''}`)
      said = performance.now()
      since = 0
    })
    server.listen({ fd: held.fd })
    // The keeper's life is its workers', not its listeners'.
    server.unref()
    this.#accepting.set(listener, server)
  }

  #route (socket: Socket, listener: number): void {
    const target = this.#pick(listener)
    if (target === undefined) {
      this.#waiting.push({ socket, listener })
      return
    }
    const id = ++this.#lastId
    this.#handed.set(id, { socket, listener, target })
    target.unanswered.set(id, performance.now())
    target.handed++
    const message: HandoffMessage = { cmd: 'NODE_RELOAD_CONN', id, listener }
    sendInternal(target.process as unknown as Channel, message, handleOf(socket), (err) => {
      if (err === null) return
      // Its channel is closed (it died, and its exit is not heard yet): no more for it, and what it was
      // handed goes elsewhere. Left among the targets, it would be picked again at once, in a loop.
      this.#targets.delete(target.pid)
      this.#answer({ cmd: 'NODE_RELOAD_NACK', id })
    })
  }

  // Fewest open (counting those not answered for yet), in turn among equals; a worker that stopped
  // answering only when no other serves the listener.
  #pick (listener: number): Target | undefined {
    const all = [...this.#targets.values()].filter((t) => t.listeners.has(listener) && t.process.connected)
    if (all.length === 0) return undefined
    const now = performance.now()
    const answering = all.filter((t) => {
      const oldest = t.unanswered.values().next()
      return oldest.done === true || now - oldest.value < ANSWER_WITHIN
    })
    const candidates = answering.length > 0 ? answering : all
    const start = this.#turn++ % candidates.length
    let best: Target | undefined
    for (let i = 0; i < candidates.length; i++) {
      const t = candidates[(start + i) % candidates.length] as Target
      if (best === undefined || open(t) < open(best)) best = t
    }
    return best
  }

  #answer (message: HandoffMessage | undefined, target?: Target): void {
    if (message === undefined || message.cmd === 'NODE_RELOAD_CONN' || message.cmd === 'NODE_RELOAD_SHED') return
    if (message.cmd === 'NODE_RELOAD_OPEN') {
      if (target !== undefined) target.open = message.open
      return
    }
    const handed = this.#handed.get(message.id)
    if (handed === undefined) return
    this.#handed.delete(message.id)
    handed.target.unanswered.delete(message.id)
    if (message.cmd === 'NODE_RELOAD_TOOK') {
      handed.target.open = message.open
      // The worker holds the connection now; the keeper's copy of its fd goes, and the connection with it only when the worker's does.
      handed.socket.destroy()
    } else {
      // Its server on that listener is closed (its drain began, or the app closed it): none go to it there again.
      handed.target.listeners.delete(handed.listener)
      this.#route(handed.socket, handed.listener)
    }
  }

  #gone (target: Target): void {
    if (this.#targets.get(target.pid) === target) this.#targets.delete(target.pid)
    for (const [id, handed] of this.#handed) {
      if (handed.target !== target) continue
      this.#handed.delete(id)
      this.#route(handed.socket, handed.listener)
    }
  }
}
