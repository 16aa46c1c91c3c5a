import { EventEmitter } from 'node:events'
import type { ListenOptions, Server } from 'node:net'
import { ReloadError } from '../errors.js'
import { Generation, type Emit, type ReloadEvents } from './generation.js'
import type { UpgradeResult } from './handover.js'
import type { DrainReason, ReloadState } from './lifecycle.js'
import type { ReloadListenOptions } from '../listen/address.js'
import { changedOption, resolveOptions, type ReloadOptions } from './options.js'

export type { ReloadEvents } from './generation.js'
export type { DrainReason, ReloadState } from './lifecycle.js'
export type { UpgradeResult } from './handover.js'

/**
 * One per process (get it with {@link reloader}): the servers this generation serves, their ledgers,
 * signals, and the drain. The documented face of this process's {@link Generation}, which does the work.
 */
export class Reloader extends EventEmitter<ReloadEvents> {
  /** 1 for a process started by hand, n + 1 for the one generation n started. */
  readonly generation: number
  /**
   * The pid of the `reload run` keeper this process is a worker of. The keeper holds the listeners and
   * replaces workers itself, so a worker never starts a generation: its reload signal goes to the keeper.
   */
  readonly keeper: number | undefined
  /**
   * How many processes serve the same sockets: the keeper's `--workers` for one of its workers, else 1.
   * A protocol that keeps a client's requests on one process (Socket.IO's long-polling) needs 1.
   */
  readonly workers: number
  readonly #g: Generation
  #given: ReloadOptions

  /** Use {@link reloader}: a second instance in one process would find no listener to inherit. */
  constructor (options: ReloadOptions = {}) {
    super()
    this.#given = { ...options }
    this.#g = new Generation(options, this.emit.bind(this) as Emit)
    this.generation = this.#g.number
    this.keeper = this.#g.role.keeper
    this.workers = this.#g.workers
  }

  get state (): ReloadState { return this.#g.life.state }
  get isDraining (): boolean { return this.#g.life.isRetiring }
  /** Whether a previous generation started this one. */
  get hasParent (): boolean { return this.#g.parent.exists }
  /** The pid of the generation that started this one while it still drains; `undefined` once it exited. */
  get parentPid (): number | undefined { return this.#g.parent.pid }
  /** Requests in flight across every attached server. */
  get requests (): number { return this.#g.servers.requests }
  /** Open connections across every attached server. */
  get connections (): number { return this.#g.servers.connections }
  /** The reason of the drain under way, if any: whether it is a handover or a shutdown. */
  get drainReason (): DrainReason | undefined { return this.#g.life.drainReason }

  /** Resolves once the generation that started this one has exited (at once when there is none). */
  waitForParent (): Promise<void> { return this.#g.parent.waitForExit() }

  /**
   * Merges `options` into this reloader's before its first server is attached; after that they are
   * fixed, and a call that would change one throws.
   * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION`
   */
  configure (options: ReloadOptions): void {
    const given = { ...this.#given, ...options }
    const resolved = resolveOptions(given)
    if (this.#g.life.isArmed) {
      const changed = changedOption(this.#g.options(), resolved, Object.keys(options).filter((key) => options[key as keyof ReloadOptions] !== undefined))
      if (changed !== undefined) {
        throw new ReloadError('ERR_RELOAD_INVALID_OPTION',
          `${changed} option cannot change once a server is attached (it is already set to another value); ` +
          'pass the options in the first reloader() call, or call reloader() without options')
      }
      return
    }
    this.#g.setOptions(resolved)
    this.#given = given
  }

  /**
   * Tracks `server` in the ledger and makes its `listen()` take an inherited listener where one matches.
   * With `optional`, a failed `listen()` of that server leaves this generation serving without it instead
   * of failing the handover (Fastify's extra bindings for `localhost`, which Fastify itself lets fail).
   * The first server attached installs the signal handlers; detaching the last one removes them.
   * Returns the uninstaller.
   */
  attach<S extends Server>(server: S, options: { optional?: boolean } = {}): () => void {
    this.#g.arm()
    return this.#g.servers.attach(server, { optional: options.optional === true, idleGrace: this.#g.options().idleGrace, goAway: this.#g.goAway })
  }

  /** Whether `server` is attached (its `listen()` takes inherited listeners, its ledger drains it). */
  isAttached (server: Server): boolean { return this.#g.servers.original(server) !== undefined }

  /** `server.listen(...)` with `server.listen`'s call shapes, taking an inherited listener where one matches. Returns `server`. */
  listen<S extends Server>(server: S, port?: number, hostname?: string, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, port?: number, hostname?: string, listeningListener?: () => void): S
  listen<S extends Server>(server: S, port?: number, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, port?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, path: string, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, path: string, listeningListener?: () => void): S
  listen<S extends Server>(server: S, options: ReloadListenOptions | ListenOptions, listeningListener?: () => void): S
  listen<S extends Server>(server: S, handle: { fd: number } | object, backlog?: number, listeningListener?: () => void): S
  listen<S extends Server>(server: S, handle: { fd: number } | object, listeningListener?: () => void): S
  listen<S extends Server>(server: S, listeningListener?: () => void): S
  listen<S extends Server>(server: S, ...args: unknown[]): S {
    this.attach(server)
    return server.listen(...args as []) as S
  }

  /**
   * Marks this generation ready: closes inherited listeners nobody claimed, writes the pid file and tells
   * the previous generation, which then drains. Called for you once every server listens, unless
   * `autoReady` is `false`. Idempotent.
   */
  ready (): Promise<void> { return this.#g.ready() }

  /**
   * Starts the next generation with this one's listeners and, once it is ready, drains this one.
   * Resolves when the next generation is ready; rejects with a coded {@link ReloadError} otherwise, and
   * this generation goes on serving as before.
   */
  async upgrade (): Promise<UpgradeResult> {
    const refused = this.#g.life.refusal()
    if (refused !== undefined) throw refused
    return await this.#g.handOver()
  }

  /**
   * Shuts this generation down: stops accepting, lets what it took finish, runs the `beforeExit` hooks,
   * and exits (unless `exit: false`), all within `drainTimeout`. Resolves when the drain is over. Idempotent.
   */
  drain (): Promise<void> { return this.#g.retire('shutdown') }

  /**
   * Calls `close` once this generation drains, at a random moment within `goAwayWindow` (within what is
   * left of it if the drain already began), so that the clients of long-lived connections reconnect to
   * the next generation spread out. For a protocol reload does not know (Socket.IO, a custom stream):
   * `close` should end the connection politely, the way its clients expect. Returns the canceller: call it
   * when the connection ends by itself. The way back (a next generation that died) cancels what was not
   * yet called and keeps it for the next drain.
   */
  goingAway (close: () => void): () => void {
    if (typeof close !== 'function') throw new ReloadError('ERR_RELOAD_INVALID_OPTION', `goingAway() takes a function that closes one connection, instead got ${typeof close}`)
    return this.#g.goAway.schedule(close)
  }

  /**
   * Runs `hook` once the drain is over and before exit (close pools and the like), within what is left
   * of `drainTimeout`. Returns the uninstaller.
   */
  beforeExit (hook: () => unknown): () => void {
    this.#g.beforeExit.add(hook)
    return () => this.#g.beforeExit.delete(hook)
  }

  /**
   * Hands every server back to the app: removes each `listen` wrapper and the signal handlers, and goes
   * back to `starting` (a handover under way is abandoned). For an app that closes its servers itself;
   * attaching a server again starts anew. Idempotent; a drain already under way goes on.
   */
  detach (): void {
    this.#g.servers.detachAll()
    this.#g.disarm()
  }
}

const key = Symbol.for('@reload/core')

/**
 * The process's {@link Reloader}, created by the first call; later calls return the same one, so adapters
 * and the app share it (even across two copies of this package). Options given before the first server
 * is attached are merged; after that a call that would change one throws.
 * @throws {ReloadError} `ERR_RELOAD_INVALID_OPTION` when an option is invalid, or changes too late.
 * @throws {ReloadError} `ERR_RELOAD_NODE_INTERNALS` when this Node.js changed what reload relies on.
 */
export function reloader (options?: ReloadOptions): Reloader {
  const holder = globalThis as { [key]?: Reloader }
  const existing = holder[key]
  if (existing !== undefined) {
    if (options !== undefined) existing.configure(options)
    return existing
  }
  const created = new Reloader(options)
  holder[key] = created
  return created
}
