import { readdirSync, rmSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { isStaleSocket, removeSocket } from '@reload/core/keeper'
import { makeControlDir } from './control/dir.js'

/** The preload `reload dev` puts first in each worker (dev-preload.ts). */
export const devPreload = new URL('./dev-preload.js', import.meta.url).href

/** A worker held by dev-preload.ts: Node booted and the preloads loaded, the app not yet. */
export interface Spare {
  pid: number
  generation: number
  /** The project's files it may have read as it booted (`--env-file`s, `--require`d modules, `.env*`). */
  files: string[]
  /** Lets it load the app (once); false when it is no longer there to hear it. */
  go: () => boolean
  /** Lets it exit without loading the app. */
  dismiss: () => void
}

/**
 * Where `reload dev`'s workers say they wait, before they load the app: a unix socket, `dev-<pid>.sock` in the
 * folder control sockets live in (this user's alone; `reload status` passes it over), named to the workers by
 * RELOAD_DEV_SPARE. Calls `onSpare` for each.
 * @throws {ReloadError} `ERR_RELOAD_CONTROL` when there is no such folder.
 */
export class Spares {
  readonly path: string
  readonly #dir: string
  /** A fresh folder of its own, to remove at the end. */
  readonly #temporary: boolean
  readonly #server
  readonly #sockets = new Set<Socket>()

  constructor (onSpare: (spare: Spare) => void) {
    const { dir, temporary } = makeControlDir()
    this.#dir = dir
    this.#temporary = temporary
    this.path = join(dir, `dev-${process.pid}.sock`)
    this.#server = createServer((socket) => {
      this.#sockets.add(socket)
      // Workers keep the keeper alive; a line to one of them must not.
      socket.unref()
      let closed = false
      socket.on('close', () => { closed = true; this.#sockets.delete(socket) })
      socket.on('error', () => {})
      socket.setEncoding('utf8')
      let heard = ''
      socket.on('data', (chunk: string) => {
        heard += chunk
        const end = heard.indexOf('\n')
        if (end < 0) return
        let hello: { pid?: unknown, generation?: unknown, files?: unknown } | undefined
        try { hello = JSON.parse(heard.slice(0, end)) as typeof hello } catch {}
        socket.removeAllListeners('data')
        const { pid, generation, files } = hello ?? {}
        if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(generation) || !Array.isArray(files)) { socket.destroy(); return }
        let delivered: boolean | undefined
        onSpare({
          pid: pid as number,
          generation: generation as number,
          files: files.filter((f): f is string => typeof f === 'string'),
          go: () => {
            if (delivered === undefined) {
              delivered = !closed
              if (delivered) socket.end('go\n')
            }
            return delivered
          },
          dismiss: () => {
            if (delivered !== undefined) return
            delivered = false
            socket.destroy()
          }
        })
      })
    })
    this.#server.unref()
  }

  /** Resolves once workers can say they wait. */
  async listen (): Promise<void> {
    // A `reload dev` killed with SIGKILL leaves its socket behind: this pid's is one such, and the others go
    // once nothing answers on them.
    rmSync(this.path, { force: true })
    for (const name of readdirSync(this.#dir).filter((n) => /^dev-\d+\.sock$/.test(n))) {
      const path = join(this.#dir, name)
      isStaleSocket(path, (stale) => { if (stale) removeSocket(path) })
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.path, () => { this.#server.off('error', reject); resolve() })
    })
  }

  /** The environment that makes a worker wait here: dev-preload.ts first, before anything else preloaded. */
  env (env: NodeJS.ProcessEnv): void {
    env.RELOAD_DEV_SPARE = this.path
    env.NODE_OPTIONS = `--import=${devPreload} ${env.NODE_OPTIONS ?? ''}`.trim()
  }

  /** Closes the socket and removes it: a worker still waiting exits, as its line closes. */
  close (): void {
    this.#server.close()
    for (const socket of this.#sockets) socket.destroy()
    rmSync(this.#temporary ? this.#dir : this.path, { recursive: true, force: true })
  }
}
