// What the framework tests share: a keeper on a port of their own, and which workers serve now.
import { join } from 'node:path'
import { portBelowEphemeralRange, startProcess, tempDir, type Fixture } from '@reload/test-helpers'
import { reloadBin } from '../keeper/helpers.js'

/**
 * Starts `reload run --listen 127.0.0.1:<port> <flags> -- <command>` in `cwd`, with `PORT`, `HOST` and
 * `HOSTNAME` (what these frameworks read for their address) naming the same port.
 */
export async function runKeeper (cwd: string, flags: string[], command: string[], env: Record<string, string> = {}): Promise<{ keeper: Fixture, port: number, control: string }> {
  const port = await portBelowEphemeralRange()
  const control = join(tempDir(), 'control.sock')
  const keeper = startProcess(reloadBin, {
    cwd,
    args: ['run', ...flags, '--listen', `127.0.0.1:${port}`, '--control', control, '--', ...command],
    env: { PORT: String(port), HOST: '127.0.0.1', HOSTNAME: '127.0.0.1', ...env }
  })
  return { keeper, port, control }
}

/** The pids of the workers that serve now, from the keeper's last "ready" or "serves" line. */
export function serving (output: string): number[] {
  const last = [...output.matchAll(/(?:workers? ready on .*workers=|serves \(generation=\d+ ms=\d+ workers=)([\d,]+)\)/g)].at(-1)
  return last === undefined ? [] : (last[1] as string).split(',').map(Number)
}
