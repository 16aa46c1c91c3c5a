import { readFileSync } from 'node:fs'
import net from 'node:net'
import { which } from './capabilities.js'
import { startProcess, type Fixture } from './process.js'

/**
 * A port for a server that must be told a port number (no port 0): below the kernel's ephemeral range,
 * and free when this returns. Every other test binds port 0, which the kernel serves from the ephemeral
 * range only, so no test can take it meanwhile; a program outside the test run could, and a caller that
 * can tell (systemd-socket-activate says "Address already in use") tries another.
 */
export async function portBelowEphemeralRange (host = '127.0.0.1'): Promise<number> {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000))
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer()
      probe.once('error', () => resolve(false))
      probe.listen(port, host, () => probe.close(() => resolve(true)))
    })
    if (free) return port
  }
}

/**
 * `systemd-socket-activate -l 127.0.0.1:<port> <args(port)>`: it binds the port itself and takes no port
 * 0, so it gets one below the ephemeral range, and another when a program outside the tests took it first.
 */
export async function socketActivate (args: (port: number) => string[]): Promise<{ fixture: Fixture, port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await portBelowEphemeralRange()
    const fixture = startProcess('', { command: which('systemd-socket-activate') as string, args: ['-l', `127.0.0.1:${port}`, ...args(port)] })
    const { match } = await fixture.waitFor(new RegExp(`Listening on 127\\.0\\.0\\.1:${port} as 3|Address already in use`))
    if (!match[0].includes('in use')) return { fixture, port }
    if (attempt === 5) throw new Error(`no free port below the ephemeral range after 5 attempts:\n${fixture.output}`)
    await fixture.close()
  }
}

/**
 * Whether a socket in this network namespace listens on TCP `port` (read from /proc/net/tcp and tcp6,
 * not by connecting). After a handover the old generation's sockets stay open in its holder process
 * (packages/core/src/generation/holder-main.ts), which exits when it sees the drain over: a moment after the old
 * generation, with no event a test can wait for.
 */
export function listensOn (port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields[1]?.endsWith(hex) === true && fields[3] === '0A') return true
    }
  }
  return false
}
