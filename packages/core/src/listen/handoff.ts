import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server, Socket } from 'node:net'
import { closeAfter } from '../drain/ledger.js'
import { LISTEN_FDS_START } from '../protocol/fds.js'
import { decodeHandoff, HANDOFF_PREFIX, type HandoffMessage } from '../protocol/link.js'
import { closeHandle, hasInternalChannel, holdChannel, listenWithoutAccepting, onInternal, sendInternal, takeConnection, type Channel } from '../node/internals.js'
import { debug } from '../log.js'

const channel = process as unknown as Channel
// How long a request to give connections back holds.
const SHED_WITHIN = 5000

/**
 * A keeper's worker whose keeper balances: its servers sit on the inherited listeners without accepting,
 * and take the connections the keeper hands them on Node's IPC channel, each as if they had accepted it.
 * Which worker gets a connection is the keeper's choice, so N workers share keep-alive clients evenly,
 * where the kernel's wake-ups would give most of them to one.
 */
export class Handoff {
  /** The server on each listener, by its position in LISTEN_FDS. */
  readonly #servers = new Map<number, Server>()
  /** Handed connections still open: the keeper sends the next ones where fewer are. */
  #open = 0
  #reporting = false
  /** HTTP/1 connections open that have had a request, oldest first: what a request to give some back picks from. */
  readonly #live = new Set<Socket>()
  /** Those the keeper asked this worker to give back, each at its next request, until `#shedUntil`. */
  readonly #shed = new Set<Socket>()
  #shedUntil = 0

  /** Whether this process has the keeper's IPC channel to take connections on. */
  static available (): boolean { return hasInternalChannel(channel) }

  constructor () {
    onInternal(channel, HANDOFF_PREFIX, (message, handle) => { this.#receive(message, handle) })
  }

  /** The listeners it takes connections for, by position in LISTEN_FDS. */
  get listeners (): number[] { return [...this.#servers.keys()].sort((a, b) => a - b) }

  /**
   * Sets `server` up on the inherited listener `fd` to take handed connections; false when it cannot (the
   * server then listens as usual).
   */
  listen (server: Server, fd: number, backlog: number | undefined): boolean {
    if (!listenWithoutAccepting(server, fd, backlog)) return false
    const position = fd - LISTEN_FDS_START
    this.#servers.set(position, server)
    // No accepting handle keeps the loop alive now: the channel the connections come on does, while a server is on it.
    holdChannel(true)
    // First among the listeners: a handler that answers at once has sent its headers when the next one runs.
    server.prependListener('request', this.#onRequest)
    server.once('close', () => {
      server.off('request', this.#onRequest)
      if (this.#servers.get(position) === server) this.#servers.delete(position)
      if (this.#servers.size === 0) holdChannel(false)
    })
    return true
  }

  // Answered with `Connection: close`, a keep-alive client opens a new connection for its next request, which the
  // keeper hands to the worker with the fewest: the way a worker that started while the others held every client
  // (after a crash, they came back at once to the one serving) gets its share. Only after an answer, never an
  // idle close, which a client's next request could cross.
  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.httpVersionMajor === 2) return
    const socket = req.socket
    if (!this.#live.has(socket)) {
      this.#live.add(socket)
      socket.once('close', () => {
        this.#live.delete(socket)
        this.#shed.delete(socket)
      })
    }
    if (!this.#shed.delete(socket)) return
    if (performance.now() > this.#shedUntil) {
      this.#shed.clear()
      return
    }
    closeAfter(res)
  }

  #receive (message: { cmd: string }, handle: object | undefined): void {
    const conn = decodeHandoff(message as HandoffMessage)
    if (conn?.cmd === 'NODE_RELOAD_SHED') {
      // Connections open now, so that a later client is never sent away for an imbalance gone since. The
      // keeper's newest count replaces the last; clients quiet for a while are not worth moving later.
      this.#shed.clear()
      for (const socket of this.#live) {
        if (this.#shed.size >= conn.count) break
        this.#shed.add(socket)
      }
      this.#shedUntil = performance.now() + SHED_WITHIN
      return
    }
    if (conn?.cmd !== 'NODE_RELOAD_CONN' || handle === undefined) {
      if (handle !== undefined) closeHandle(handle)
      return
    }
    const server = this.#servers.get(conn.listener)
    let socket: Socket | undefined
    const track = (s: Socket): void => { socket = s }
    let took = false
    if (server?.listening === true) {
      server.prependOnceListener('connection', track)
      took = takeConnection(server, handle)
      server.off('connection', track)
    }
    if (!took) {
      // A server closed since (its drain began): the keeper gives it to another worker, unread.
      closeHandle(handle)
      this.#reply({ cmd: 'NODE_RELOAD_NACK', id: conn.id })
      return
    }
    if (socket !== undefined) {
      this.#open++
      socket.once('close', () => {
        this.#open--
        this.#reportOpen()
      })
    }
    this.#reply({ cmd: 'NODE_RELOAD_TOOK', id: conn.id, open: this.#open })
  }

  // Closes are told once per turn of the event loop, not one message each: the keeper's count must not lag
  // (a count from before a wave of clients left would send the next wave elsewhere), nor cost a message per close.
  #reportOpen (): void {
    if (this.#reporting) return
    this.#reporting = true
    setImmediate(() => {
      this.#reporting = false
      this.#reply({ cmd: 'NODE_RELOAD_OPEN', id: 0, open: this.#open })
    }).unref()
  }

  #reply (message: HandoffMessage): void {
    sendInternal(channel, message, undefined, (err) => { if (err !== null) debug('handoff reply: %s', err) })
  }
}
