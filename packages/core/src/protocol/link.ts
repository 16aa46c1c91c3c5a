// The protocol between a generation and its parent (the previous generation, or a `reload run` keeper):
// the environment that starts it, and the link, a unix socket pair with one line per message each way.
// Every message is typed here, and only here is it written or read. A line neither side knows is ignored,
// so an older keeper and a newer core work together.

/**
 * The protocol's variables: systemd's three, the link's fd, the generation, the keeper's pid, its worker
 * count, whether it hands connections over (`RELOAD_HANDOFF=1`), and which Node the parent found its
 * internals unchanged in (`RELOAD_NODE_CHECKED`: version and executable; the child skips the same check in
 * the same Node). A generation reads and removes them all at start (fds.ts); none is passed on to a next one
 * as it was.
 */
export const PROTOCOL_VARS = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'RELOAD_READY_FD', 'RELOAD_GENERATION', 'RELOAD_KEEPER', 'RELOAD_WORKERS', 'RELOAD_HANDOFF', 'RELOAD_NODE_CHECKED', 'RELOAD_HOLD'] as const

/** What a generation (or a keeper's worker) tells its parent. */
export type ChildMessage =
  /** It answers `PING` from its event loop, obeys `DRAIN`, and says `ACCEPTING=0` and `DRAINED`. Sent before `READY=1`. */
  | { type: 'liveness' }
  /** Its preload waits as a spare when started with `RELOAD_HOLD`. Sent before `READY=1`. */
  | { type: 'holds' }
  /** It takes handed connections for these listeners (positions in LISTEN_FDS). Sent just before `READY=1`. */
  | { type: 'handoff', listeners: number[] }
  /** Every server listens (or the app called `ready()`): the parent may retire. */
  | { type: 'ready' }
  /** It failed before it was ready, and why; it exits next. */
  | { type: 'error', reason: string }
  /** It drains on its own (a shutdown signal, `drain()`): no reason to take its sockets back. */
  | { type: 'stopping' }
  /** Its listeners are closed: new connections go to the others. */
  | { type: 'notAccepting' }
  /** Its drain is over, just before exit: what was cut at the drain timeout. */
  | { type: 'drained', requests: number, connections: number }
  /** The answer to `STATUS`. `served` and `heap` are absent from older workers. */
  | { type: 'status', requests: number, connections: number, state: string, served: number | undefined, heap: number | undefined }
  /** The answer to `PING`. */
  | { type: 'pong' }

/** What a keeper asks of its worker. */
export type ParentMessage = { type: 'status' } | { type: 'ping' } | { type: 'drain' } | { type: 'force' }

/** The line for `message`, without its line end. */
export function encodeChild (message: ChildMessage): string {
  switch (message.type) {
    case 'liveness': return 'LIVENESS=1'
    case 'holds': return 'HOLDS=1'
    case 'ready': return 'READY=1'
    case 'handoff': return `HANDOFF=${message.listeners.join(',')}`
    // One line: a reason with line breaks would end the message early.
    case 'error': return `ERROR=${message.reason.replace(/[\r\n]+/g, ' ')}`
    case 'stopping': return 'STOPPING=1'
    case 'notAccepting': return 'ACCEPTING=0'
    case 'drained': return `DRAINED requests=${message.requests} connections=${message.connections}`
    case 'status': {
      const extra = `${message.served === undefined ? '' : ` served=${message.served}`}${message.heap === undefined ? '' : ` heap=${message.heap}`}`
      return `STATUS requests=${message.requests} connections=${message.connections} state=${message.state}${extra}`
    }
    case 'pong': return 'PONG'
  }
}

function field (line: string, name: string): number | undefined {
  const value = new RegExp(`(?:^| )${name}=(\\d+)(?: |$)`).exec(line)?.[1]
  return value === undefined ? undefined : Number(value)
}

/** The message a child's line says, or undefined for a line this version does not know. */
export function decodeChild (line: string): ChildMessage | undefined {
  switch (line) {
    case 'LIVENESS=1': return { type: 'liveness' }
    case 'HOLDS=1': return { type: 'holds' }
    case 'READY=1': return { type: 'ready' }
    case 'STOPPING=1': return { type: 'stopping' }
    case 'ACCEPTING=0': return { type: 'notAccepting' }
    case 'PONG': return { type: 'pong' }
  }
  if (line.startsWith('ERROR=')) return { type: 'error', reason: line.slice(6) }
  if (line.startsWith('HANDOFF=')) {
    const listeners = line.slice(8).split(',').filter((n) => /^\d{1,4}$/.test(n)).map(Number)
    return { type: 'handoff', listeners }
  }
  if (line.startsWith('DRAINED ')) {
    const requests = field(line, 'requests')
    const connections = field(line, 'connections')
    return requests === undefined || connections === undefined ? undefined : { type: 'drained', requests, connections }
  }
  if (line.startsWith('STATUS ')) {
    const requests = field(line, 'requests')
    const connections = field(line, 'connections')
    if (requests === undefined || connections === undefined) return undefined
    const state = / state=(\S+)/.exec(line)?.[1] ?? 'unknown'
    return { type: 'status', requests, connections, state, served: field(line, 'served'), heap: field(line, 'heap') }
  }
  return undefined
}

const parentLines: Record<ParentMessage['type'], string> = { status: 'STATUS', ping: 'PING', drain: 'DRAIN', force: 'FORCE' }

/** The line for a keeper's `message`, without its line end. */
export function encodeParent (message: ParentMessage): string {
  return parentLines[message.type]
}

/** The message a keeper's line says, or undefined for a line this version does not know. */
export function decodeParent (line: string): ParentMessage | undefined {
  switch (line) {
    case 'STATUS': return { type: 'status' }
    case 'PING': return { type: 'ping' }
    case 'DRAIN': return { type: 'drain' }
    case 'FORCE': return { type: 'force' }
  }
  return undefined
}

/**
 * Cuts a stream of text into lines for `onLine`. A partial line longer than `max` is dropped: a peer that
 * never ends its line must not grow the buffer without bound.
 */
export class LineReader {
  #buffer = ''
  readonly #onLine: (line: string) => void
  readonly #max: number

  constructor (onLine: (line: string) => void, max = 4096) {
    this.#onLine = onLine
    this.#max = max
  }

  push (chunk: string | Buffer): void {
    this.#buffer += String(chunk)
    let end: number
    while ((end = this.#buffer.indexOf('\n')) !== -1) {
      const line = this.#buffer.slice(0, end)
      this.#buffer = this.#buffer.slice(end + 1)
      this.#onLine(line)
    }
    if (this.#buffer.length > this.#max) this.#buffer = ''
  }
}

// The handoff: a keeper that balances accepts each connection and hands it to a worker on Node's IPC channel
// (the link carries text only). `NODE_`-prefixed, so Node keeps them from the app's own `message` listeners.

/** Prefix of every handoff message. */
export const HANDOFF_PREFIX = 'NODE_RELOAD_'

/** What the keeper and its worker say of one handed connection. */
export type HandoffMessage =
  /** Keeper → worker, with the connection's handle: for the listener at `listener` (its position in LISTEN_FDS). */
  | { cmd: 'NODE_RELOAD_CONN', id: number, listener: number }
  /** Worker → keeper: it serves the connection now; `open` is how many handed connections it has open. */
  | { cmd: 'NODE_RELOAD_TOOK', id: number, open: number }
  /** Worker → keeper: it did not take it (that server is closed) and did not read from it. */
  | { cmd: 'NODE_RELOAD_NACK', id: number }
  /** Worker → keeper: handed connections closed; `open` are left (`id` is 0). */
  | { cmd: 'NODE_RELOAD_OPEN', id: number, open: number }
  /**
   * Keeper → worker: it has more than its share; answer the next requests of `count` connections with
   * `Connection: close`, so their clients come back through the keeper to a worker with fewer (`id` is 0).
   */
  | { cmd: 'NODE_RELOAD_SHED', id: number, count: number }

/** The handoff message in `message` (from Node's `internalMessage`), or undefined for anything else. */
export function decodeHandoff (message: { cmd: string, [field: string]: unknown }): HandoffMessage | undefined {
  const id = message.id
  if (typeof id !== 'number') return undefined
  switch (message.cmd) {
    case 'NODE_RELOAD_CONN': return typeof message.listener === 'number' ? { cmd: message.cmd, id, listener: message.listener } : undefined
    case 'NODE_RELOAD_TOOK':
    case 'NODE_RELOAD_OPEN': return typeof message.open === 'number' ? { cmd: message.cmd, id, open: message.open } : undefined
    case 'NODE_RELOAD_NACK': return { cmd: message.cmd, id }
    case 'NODE_RELOAD_SHED': return typeof message.count === 'number' ? { cmd: message.cmd, id, count: message.count } : undefined
  }
  return undefined
}
