import type { Server } from 'node:net'
import type { GoAway } from '../drain/goaway.js'
import { Ledger } from '../drain/ledger.js'
import type { Listeners } from './listeners.js'

type Listen = (...args: unknown[]) => unknown

interface Attached {
  ledger: Ledger
  /** The server's own `listen`, under reload's wrapper. */
  original: Listen
  optional: boolean
  detach: () => void
}

/**
 * Every server attached to this generation: the `listen()` wrapper that takes inherited listeners, and
 * the ledger that drains it.
 */
export class Servers {
  readonly #attached = new Map<Server, Attached>()
  readonly #listeners: Listeners
  readonly #onEmpty: () => void

  constructor (listeners: Listeners, onEmpty: () => void) {
    this.#listeners = listeners
    this.#onEmpty = onEmpty
  }

  get size (): number { return this.#attached.size }
  get ledgers (): Ledger[] { return [...this.#attached.values()].map((a) => a.ledger) }
  get requests (): number { return this.ledgers.reduce((n, ledger) => n + ledger.requests, 0) }
  get connections (): number { return this.ledgers.reduce((n, ledger) => n + ledger.connections, 0) }
  get upgraded (): number { return this.ledgers.reduce((n, ledger) => n + ledger.upgraded, 0) }

  isOptional (server: Server): boolean { return this.#attached.get(server)?.optional ?? false }
  original (server: Server): Listen | undefined { return this.#attached.get(server)?.original }

  /** Attaches `server` (once; a repeat call returns the same detacher). */
  attach (server: Server, options: { optional: boolean, idleGrace: number | undefined, goAway: GoAway }): () => void {
    const attached = this.#attached.get(server)
    if (attached !== undefined) {
      attached.optional ||= options.optional
      return attached.detach
    }
    const own = Object.getOwnPropertyDescriptor(server, 'listen')
    const original = server.listen as Listen
    const listeners = this.#listeners
    Object.defineProperty(server, 'listen', {
      configurable: true,
      writable: true,
      value: function listen (...args: unknown[]) { return listeners.listen(server, original, args) }
    })
    const detach = (): void => {
      if (this.#attached.get(server)?.detach !== detach) return
      this.#attached.delete(server)
      ledger.detach()
      if (own !== undefined) Object.defineProperty(server, 'listen', own)
      else Reflect.deleteProperty(server, 'listen')
      if (this.#attached.size === 0) this.#onEmpty()
    }
    const ledger = new Ledger(server, { idleGrace: options.idleGrace, goAway: options.goAway })
    this.#attached.set(server, { ledger, original, optional: options.optional, detach })
    return detach
  }

  /** Detaches every server. */
  detachAll (): void {
    for (const { detach } of [...this.#attached.values()]) detach()
  }
}
