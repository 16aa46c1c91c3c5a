import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import net from 'node:net'
import { delimiter, join } from 'node:path'
import type { TestContext } from 'vitest'

/** What some integration tests need from the machine beyond Node: a laptop may lack it, CI may not. */
export type Capability = 'root' | 'mount namespace' | 'ipv6 loopback' | 'systemd-socket-activate'

/** The path of `command` on PATH, or undefined. */
export function which (command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, command)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

async function canBind (host: string): Promise<string | undefined> {
  const server = net.createServer()
  return await new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve(`cannot listen on ${host}: ${err.code ?? err.message}`))
    server.listen(0, host, () => server.close(() => resolve(undefined)))
  })
}

// Each check says why the capability is missing, or undefined when it is there.
const checks: Record<Capability, () => Promise<string | undefined>> = {
  root: async () => process.getuid?.() === 0 ? undefined : `not running as root (uid ${process.getuid?.()})`,
  'mount namespace': async () => {
    const unshare = which('unshare')
    if (unshare === undefined) return 'unshare (util-linux) is not on PATH'
    const result = spawnSync(unshare, ['--mount', 'true'], { encoding: 'utf8' })
    return result.status === 0 ? undefined : `unshare --mount fails: ${(result.stderr || String(result.error)).trim()}`
  },
  'ipv6 loopback': async () => await canBind('::1'),
  'systemd-socket-activate': async () => which('systemd-socket-activate') === undefined ? 'systemd-socket-activate is not on PATH' : undefined
}

const results = new Map<Capability, Promise<string | undefined>>()

/**
 * Skips the test, with the reason in the report, when the machine lacks one of `capabilities`. Under
 * `CI=true` it fails instead: CI machines have them all, and a silent skip there would hide a regression.
 */
export async function requires (ctx: TestContext, ...capabilities: Capability[]): Promise<void> {
  for (const capability of capabilities) {
    let result = results.get(capability)
    if (result === undefined) results.set(capability, result = checks[capability]())
    const missing = await result
    if (missing === undefined) continue
    const reason = `needs ${capability}: ${missing}`
    if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: a missing capability fails instead of skipping)`)
    // The default reporter lists no skipped test of a passing file; its stderr it does show.
    console.warn(`skipped "${ctx.task.name}": ${reason}`)
    ctx.skip(reason)
  }
}
