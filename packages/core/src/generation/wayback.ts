import type { ChildProcess } from 'node:child_process'
import { childProcess } from '../node/lazy.js'
import type { Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { LISTEN_FDS_START } from '../protocol/fds.js'
import type { Binding, Listeners } from '../listen/listeners.js'
import { debug } from '../log.js'
import type { Servers } from '../listen/servers.js'
import { later } from '../node/timers.js'

// Made when a holder starts, not when the reloader loads: a URL costs every worker's start 0.3 to 0.6 ms on Node 20.
const script = (): string => fileURLToPath(new URL('./holder-main.js', import.meta.url))

/** How long the holder may take to hand the sockets back before the way back is given up. */
const TAKE_TIMEOUT = 5000

/**
 * The process that keeps a draining generation's listening sockets open (see holder-main.ts), and the way to
 * ask for them back. It dies with the drain.
 */
class Holder {
  readonly #child: ChildProcess

  private constructor (child: ChildProcess) {
    this.#child = child
    // The holder must not keep the drainer alive: the drain decides when it exits.
    child.unref()
    child.channel?.unref()
    child.on('error', (err) => debug('holder: %s', err))
  }

  /** Starts a holder of `fds`; the fds are its own as soon as this returns (they pass at fork). */
  static start (fds: number[]): Holder {
    const env = { ...process.env }
    // The app's preloads (NODE_OPTIONS=--import …) have no business in the holder.
    Reflect.deleteProperty(env, 'NODE_OPTIONS')
    const child = childProcess().spawn(process.execPath, [script(), ...fds.map((_, i) => String(LISTEN_FDS_START + i))], {
      stdio: ['ignore', 'ignore', 'inherit', ...fds, 'ipc'],
      env,
      detached: true
    })
    return new Holder(child)
  }

  /** The sockets back, as raw handles in the order given to `start()`. */
  take (count: number): Promise<object[]> {
    const child = this.#child
    return new Promise((resolve, reject) => {
      const handles: object[] = []
      const timer = later(TAKE_TIMEOUT, () => finish(new Error(`the holder (pid ${child.pid}) did not hand the sockets back within ${TAKE_TIMEOUT} ms`)), { keepAlive: true })
      const finish = (err?: Error): void => {
        timer.cancel()
        child.off('message', onMessage)
        child.off('exit', onExit)
        if (err !== undefined) reject(err)
        else resolve(handles)
      }
      const onMessage = (message: { index?: number, done?: boolean }, handle?: object): void => {
        if (typeof message.index === 'number' && handle !== undefined) handles[message.index] = handle
        if (message.done === true) finish(handles.length === count ? undefined : new Error(`the holder handed back ${handles.length} of ${count} sockets`))
      }
      const onExit = (): void => finish(new Error(`the holder (pid ${child.pid}) exited before it handed the sockets back`))
      child.on('message', onMessage)
      child.once('exit', onExit)
      child.send('give')
    })
  }

  /** Lets the holder go: it closes its copies of the sockets and exits. */
  release (): void {
    if (this.#child.connected) this.#child.disconnect()
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
  }
}

/**
 * The way back from a handover: while this generation drains, a holder keeps copies of the listening
 * sockets it handed over. If the next generation dies before the drain is over, `takeBack()` listens on
 * them again, with every connection queued meanwhile, and the drain is called off.
 */
export class WayBack {
  readonly #holder: Holder
  readonly #bindings: Binding[]
  readonly #cancel = new AbortController()
  #open = true

  private constructor (holder: Holder, bindings: Binding[]) {
    this.#holder = holder
    this.#bindings = bindings
  }

  /**
   * Starts holding `bindings`; call it before their servers close. Throws when the holder cannot start
   * (the handover goes on, without a way back).
   */
  static hold (bindings: Binding[]): WayBack {
    return new WayBack(Holder.start(bindings.map((b) => b.fd)), bindings)
  }

  /** Aborted when the listeners are taken back: the drain stops waiting, cuts nothing and exits not. */
  get cancelled (): AbortSignal { return this.#cancel.signal }
  /** Whether taking back is still possible (not once the drain has reached its hooks). */
  get isOpen (): boolean { return this.#open }

  /** No way back from here (the drain is over, or its hooks may have closed what it would need). */
  close (): void {
    this.#open = false
    this.#holder.release()
  }

  /**
   * Listens again on every socket handed over, under its name and path, and ends every ledger's drain.
   * False when the drain ended meanwhile (`stillDraining()`); throws when the holder cannot hand the
   * sockets back (the drain then goes on).
   */
  async takeBack (listeners: Listeners, servers: Servers, stillDraining: () => boolean): Promise<boolean> {
    this.#open = false
    try {
      const handles = await this.#holder.take(this.#bindings.length)
      if (!stillDraining()) return false
      this.#cancel.abort()
      for (const [i, binding] of this.#bindings.entries()) {
        const original = servers.original(binding.server as Server)
        if (original !== undefined) listeners.takeBack(binding, handles[i] as object, original)
      }
      for (const ledger of servers.ledgers) ledger.resume()
      return true
    } finally {
      this.#holder.release()
    }
  }
}
