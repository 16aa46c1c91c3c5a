import { Socket } from 'node:net'
import { decodeParent, encodeChild, LineReader, type ChildMessage, type ParentMessage } from './link.js'
import { debug } from '../log.js'

/**
 * This generation's link to the generation that started it: the socket on which it says `READY=1` (or
 * `ERROR=<why>`). The link stays open after ready: the parent closes its end when its drain is over, or
 * the kernel does when it dies, so this side learns when the parent is gone (tableflip's `WaitForParent`).
 */
export class ParentLink {
  /** The parent's pid while it is alive; `undefined` once it has exited, or for a first generation. */
  pid: number | undefined
  readonly #socket: Socket | undefined
  readonly #exited: Promise<void>
  #markExited: () => void = () => {}
  /** Answers what a `reload run` keeper asks (`STATUS`, `PING`, `DRAIN`), or undefined to say nothing. */
  answer: (question: ParentMessage) => ChildMessage | undefined = () => undefined

  constructor (fd: number | undefined) {
    this.#exited = new Promise((resolve) => { this.#markExited = resolve })
    this.#socket = fd === undefined ? undefined : open(fd)
    if (this.#socket === undefined) {
      this.#gone()
      return
    }
    this.pid = process.ppid
    this.#socket.on('close', () => this.#gone())
    // A parent generation never writes: reading notices its end closing. A keeper also asks questions,
    // one per line. The link must not keep us alive.
    const lines = new LineReader((line) => {
      const question = decodeParent(line)
      const reply = question === undefined ? undefined : this.answer(question)
      if (reply !== undefined) this.#write(reply, false).catch(() => {})
    })
    this.#socket.setEncoding('utf8')
    this.#socket.on('data', (chunk: string) => { lines.push(chunk) })
    this.#socket.unref()
  }

  /** Whether a previous generation started this one. */
  get exists (): boolean { return this.#socket !== undefined }

  /** Resolves once the parent has exited (at once when there is none). */
  waitForExit (): Promise<void> { return this.#exited }

  /**
   * Tells the parent this generation is ready; the link stays open. `LIVENESS=1` first says this worker
   * answers a keeper's `PING` with `PONG` from its event loop (a generation's parent ignores it); `HANDOFF=`
   * the listeners on which it takes the connections a balancing keeper hands it.
   */
  async ready (handoff: number[] = []): Promise<void> {
    await this.#write({ type: 'liveness' }, false)
    // Set by the preload (register.ts) that can wait as a spare: the one this process was started with.
    if ((globalThis as Record<symbol, unknown>)[Symbol.for('@reload/core/holds')] === true) await this.#write({ type: 'holds' }, false)
    if (handoff.length > 0) await this.#write({ type: 'handoff', listeners: handoff }, false)
    await this.#write({ type: 'ready' }, false)
  }

  /** Tells a keeper how the drain ended, just before exit: what was cut at the drain timeout, if anything. */
  async drained (cut: { requests: number, connections: number }): Promise<void> {
    await this.#write({ type: 'drained', ...cut }, false)
  }

  /** Tells a parent that still drains that this generation stops on purpose: no reason to take its sockets back. */
  async stopping (): Promise<void> { await this.#write({ type: 'stopping' }, false) }

  /** Tells a keeper that this worker's listeners are closed: from now on new connections go to the others. */
  async closedListeners (): Promise<void> { await this.#write({ type: 'notAccepting' }, false) }

  /** Tells the parent this generation failed before it was ready, and closes the link. */
  async fail (reason: string): Promise<void> { await this.#write({ type: 'error', reason }, true) }

  #gone (): void {
    this.pid = undefined
    this.#markExited()
  }

  #write (message: ChildMessage, end: boolean): Promise<void> {
    const socket = this.#socket
    if (socket === undefined || socket.destroyed || !socket.writable) return Promise.resolve()
    return new Promise((resolve) => {
      const text = `${encodeChild(message)}\n`
      const done = (err?: Error | null): void => {
        if (err != null) debug('telling parent: %s', err)
        resolve()
      }
      if (end) socket.end(text, () => { socket.destroy(); done() })
      else socket.write(text, done)
    })
  }
}

function open (fd: number): Socket | undefined {
  try {
    const socket = new Socket({ fd, readable: true, writable: true })
    // A parent that died leaves EPIPE/ECONNRESET here: not an error of this generation.
    socket.on('error', (err) => debug('parent link: %s', err))
    return socket
  } catch (err) {
    debug('ready fd %d unusable: %s', fd, err)
    return undefined
  }
}
