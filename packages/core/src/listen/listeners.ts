import { closeSync, existsSync } from 'node:fs'
import type { Server } from 'node:net'
import { decodeName, encodeName, type InheritedFd } from '../protocol/fds.js'
import { handleFd, isTcpHandle, listeningFd, setPipeName } from '../node/internals.js'
import { debug } from '../log.js'
import { dns } from '../node/lazy.js'
import { canonicalIp, matches, normalizeListenArgs, targetOf, type Target } from './address.js'
import type { Handoff } from './handoff.js'
import { isStaleSocket, moveIntoPlace, temporaryPath } from './unix.js'

// Raw handles taken back from the holder for unix sockets, kept for the life of the process.
const kept = new Set<object>()

/** A listening server whose socket the next generation inherits. */
export interface Binding {
  server: Server
  /** -1 where the platform gives no fd (Windows). */
  fd: number
  name: string
  /** Set for a unix socket path, which only the last generation removes. */
  path: string | undefined
}

/**
 * Listen-or-inherit for every server of this generation: a `listen()` on an address that an inherited
 * listener has takes that listener (`listen({ fd })`) instead of binding anew.
 */
export class Listeners {
  readonly #inherited: InheritedFd[]
  readonly #bindings = new Set<Binding>()
  readonly #paths = new Set<string>()
  readonly #forget = new WeakMap<Binding, () => void>()
  #pending = 0
  readonly #onSettled: () => void
  readonly #onError: (err: Error, server: Server) => void
  readonly #onClosed: (binding: Binding) => void
  readonly #onStale: (path: string) => void
  readonly #byPortAlone: boolean
  readonly #handoff: Handoff | undefined

  /**
   * With `byPortAlone` (a keeper's worker), a TCP `listen()` whose host matches no inherited listener takes
   * the one listener on that port (or the one TCP listener, for port 0): where to listen is the operator's
   * `--listen`, not the app's defaults. With `handoff`, a server on an inherited listener takes the
   * connections the keeper hands it instead of accepting.
   */
  constructor (inherited: InheritedFd[], match: { byPortAlone: boolean, handoff?: Handoff }, hooks: {
    settled: () => void
    error: (err: Error, server: Server) => void
    closed: (binding: Binding) => void
    /** A socket file nothing accepts on (left by a process that was killed) is being replaced. */
    stale: (path: string) => void
  }) {
    this.#inherited = inherited
    this.#onSettled = hooks.settled
    this.#onError = hooks.error
    this.#onClosed = hooks.closed
    this.#onStale = hooks.stale
    this.#byPortAlone = match.byPortAlone
    this.#handoff = match.handoff
  }

  get bindings (): Binding[] { return [...this.#bindings] }
  get pending (): number { return this.#pending }
  /** Unix socket paths this generation listened on, whether or not their servers have closed since. */
  get paths (): string[] { return [...this.#paths] }

  /** Calls `original` (the server's own `listen`) with an inherited fd where one matches, else as asked. */
  listen<S extends Server>(server: S, original: (...args: unknown[]) => unknown, args: unknown[]): S {
    const call = normalizeListenArgs(args)
    if (call.callback !== undefined) server.once('listening', call.callback)
    this.#pending++
    const { fdName, ...options } = call.options
    const target = call.passthrough ? undefined : targetOf(options)
    const settle = (err?: Error): void => {
      server.off('error', onError)
      server.off('listening', onListening)
      this.#pending--
      if (err === undefined) this.#onSettled()
      else this.#onError(err, server)
    }
    const onError = (err: Error): void => {
      settle(err)
      // Ours was the only listener: without it the app would have crashed, so it still does.
      if (server.listenerCount('error') === 0) throw err
    }
    let claimed: InheritedFd | undefined
    let unixPath: string | undefined
    const onListening = (): void => {
      if (unixPath !== undefined) {
        if (claimed === undefined && options.path !== unixPath && !moveIntoPlace(server, options.path as string, unixPath, settle)) return
        // address() reports the path it was bound at (or null for an fd); the socket lives at this one.
        setPipeName(server, unixPath)
      }
      this.#record(server, claimed, target, unixPath)
      settle()
    }
    server.prependOnceListener('listening', onListening)
    server.prependOnceListener('error', onError)
    const bind = (target: Target | undefined): void => {
      if (target === undefined) {
        // An app that listens on an inherited fd itself (socket activation: `listen({ fd: 3 })`) takes it.
        claimed = this.#claimFd((options as { fd?: unknown }).fd)
        original.call(server, ...args.filter((a) => a !== call.callback))
        return
      }
      claimed = this.#claim(target, fdName)
      if (target.kind === 'unix') unixPath = target.path
      if (claimed !== undefined) {
        debug('listen %s: inherited fd %d (%s)', JSON.stringify(options), claimed.fd, claimed.name)
        if (this.#handoff?.listen(server, claimed.fd, options.backlog as number | undefined) === true) return
        original.call(server, { fd: claimed.fd, backlog: options.backlog, signal: options.signal })
      } else if (unixPath !== undefined && !unixPath.startsWith('\0')) {
        const path = unixPath
        const bindRenamed = (): void => {
          const temporary = temporaryPath(path)
          original.call(server, { ...options, path: temporary })
          options.path = temporary
        }
        if (!existsSync(path)) { bindRenamed(); return }
        isStaleSocket(path, (stale) => {
          if (!stale) { original.call(server, options); return }
          this.#onStale(path)
          bindRenamed()
        })
      } else {
        original.call(server, options)
      }
    }
    if (target?.kind === 'tcp' && target.hosts.length === 0) {
      dns().lookup(options.host as string, { all: true }, (err, found) => {
        if (err !== null) { original.call(server, options); return }
        bind({ ...target, hosts: found.map((a) => canonicalIp(a.address)) })
      })
    } else {
      bind(target)
    }
    return server
  }

  /** Closes every inherited fd no server took, so a port the new code no longer uses is released. */
  closeUnclaimed (): string[] {
    const closed: string[] = []
    for (const fd of this.#inherited) {
      if (fd.claimed) continue
      fd.claimed = true
      try { closeSync(fd.fd) } catch (err) { debug('closing unclaimed fd %d: %s', fd.fd, err) }
      closed.push(fd.name)
    }
    return closed
  }

  #claim (target: Target, fdName: string | undefined): InheritedFd | undefined {
    const free = this.#inherited.filter((fd) => !fd.claimed)
    const fd = (fdName === undefined ? undefined : free.find((f) => f.name === fdName)) ??
      free.find((f) => matches(f.address, target)) ?? this.#samePort(free, target) ?? free.find((f) => f.address === undefined)
    if (fd !== undefined) fd.claimed = true
    return fd
  }

  #claimFd (fd: unknown): InheritedFd | undefined {
    const found = typeof fd === 'number' ? this.#inherited.find((f) => f.fd === fd && !f.claimed) : undefined
    if (found !== undefined) found.claimed = true
    return found
  }

  #samePort (free: InheritedFd[], target: Target): InheritedFd | undefined {
    if (!this.#byPortAlone || target.kind !== 'tcp') return undefined
    // Port 0 asks for any port: the keeper's one TCP socket is one.
    const found = free.filter((f) => f.address?.kind === 'tcp' && (target.port === 0 || f.address.port === target.port))
    return found.length === 1 ? found[0] : undefined
  }

  #record (server: Server, claimed: InheritedFd | undefined, target: Target | undefined, path: string | undefined): void {
    const fd = listeningFd(server)
    let name = claimed?.name
    if (name === undefined) {
      const address = server.address()
      if (path !== undefined) name = encodeName({ kind: 'unix', path })
      else if (address !== null && typeof address === 'object') {
        name = encodeName({ kind: 'tcp', host: address.address, port: address.port, anyPort: target?.kind === 'tcp' && target.port === 0 })
      } else name = 'unknown'
    }
    const binding: Binding = { server, fd, name, path }
    if (path !== undefined && !path.startsWith('\0')) this.#paths.add(path)
    this.#bindings.add(binding)
    const onClose = (): void => {
      this.#bindings.delete(binding)
      this.#onClosed(binding)
    }
    server.once('close', onClose)
    this.#forget.set(binding, () => server.off('close', onClose))
    debug('listening fd=%d name=%s', fd, name)
  }

  /**
   * The way back: listens again on a socket this generation had handed over (`handle`, from the holder)
   * under the same name and path, in place of `binding`.
   */
  takeBack (binding: Binding, handle: object, original: (...args: unknown[]) => unknown): void {
    const { server, name, path } = binding
    this.#bindings.delete(binding)
    this.#forget.get(binding)?.()
    const fd = handleFd(handle)
    server.once('listening', () => {
      if (path !== undefined) setPipeName(server, path)
      this.#record(server, { fd, name, address: decodeName(name), claimed: true }, undefined, path)
    })
    if (isTcpHandle(handle)) {
      original.call(server, handle)
    } else {
      // Node opens a second handle on the fd of a unix socket; this one must never close it.
      kept.add(handle)
      original.call(server, { fd })
    }
  }
}
