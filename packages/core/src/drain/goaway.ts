import { later, type Later } from '../node/timers.js'

/**
 * Tells long-lived connections (HTTP/2 sessions, WebSockets, event streams) to go away once a drain
 * begins, each at its own random moment within the window, so their clients reconnect to the next
 * generation spread out instead of in one burst (Envoy's gradual drain).
 */
export class GoAway {
  readonly #waiting = new Set<() => void>()
  readonly #timers = new Map<() => void, Later>()
  #start: number | undefined
  #window = 0

  /** Whether the drain began: what registers now goes away within what is left of the window. */
  get begun (): boolean { return this.#start !== undefined }

  /** Connections told to go away, or waiting for their moment. */
  get size (): number { return this.#waiting.size + this.#timers.size }

  /**
   * Calls `close` at a random moment within the window once the drain begins (within what is left of it
   * if the drain already began). Returns the canceller, for a connection that ends by itself first.
   */
  schedule (close: () => void): () => void {
    if (this.#start === undefined) this.#waiting.add(close)
    else this.#arm(close)
    return () => {
      this.#waiting.delete(close)
      this.#timers.get(close)?.cancel()
      this.#timers.delete(close)
    }
  }

  /** Starts the window: every registered connection gets its moment. */
  begin (window: number): void {
    if (this.#start !== undefined) return
    this.#start = Date.now()
    this.#window = window
    for (const close of [...this.#waiting]) {
      this.#waiting.delete(close)
      this.#arm(close)
    }
  }

  /** The way back: the drain is off, and connections not yet told wait for the next one. */
  reset (): void {
    this.#start = undefined
    for (const [close, timer] of this.#timers) {
      timer.cancel()
      this.#waiting.add(close)
    }
    this.#timers.clear()
  }

  #arm (close: () => void): void {
    const left = Math.max(0, (this.#start ?? 0) + this.#window - Date.now())
    this.#timers.set(close, later(Math.random() * left, () => {
      this.#timers.delete(close)
      close()
    }))
  }
}
