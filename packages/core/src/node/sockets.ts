import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { SocketAddress } from 'node:net'
import { StringDecoder } from 'node:string_decoder'

/** What the kernel says an fd is, as far as this platform lets Node read it. */
export type FdFact =
  | { kind: 'missing', detail: string }
  | { kind: 'not a socket', detail: string }
  | { kind: 'tcp', host: string, port: number, listening: boolean, bound: boolean }
  | { kind: 'unix', path: string | undefined, listening: boolean, bound: boolean }
  /** A socket, but of a family we do not hand over (UDP, netlink), or one this platform cannot describe. */
  | { kind: 'other socket', known: boolean }

interface Tables { byInode: Map<number, FdFact> }

function ipv4 (hex: string): string {
  // /proc/net/tcp prints the address as one little-endian 32-bit word.
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.')
}

function ipv6 (hex: string): string {
  const words: string[] = []
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8)
    const bytes = [6, 4, 2, 0].map((i) => word.slice(i, i + 2)).join('')
    words.push(bytes.slice(0, 4), bytes.slice(4, 8))
  }
  return new SocketAddress({ address: words.join(':'), family: 'ipv6' }).address
}

// The kernel writes these tables as they are read, listening sockets first, then every connection (and
// TIME_WAIT) of the namespace: on a busy machine all of it costs each start milliseconds per thousand lines,
// where the sockets handed over are in the first few. So a table is read until `done`.
function * readTable (path: string, done: () => boolean): Generator<string> {
  let fd
  try { fd = openSync(path, 'r') } catch { return }
  try {
    const chunk = Buffer.allocUnsafe(16384)
    const decoder = new StringDecoder('utf8')
    let rest = ''
    let header = true
    for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0;) {
      const lines = (rest + decoder.write(chunk.subarray(0, n))).split('\n')
      rest = lines.pop() as string
      for (const line of lines) {
        if (header) header = false
        else if (line.trim() !== '') yield line
      }
      if (done()) return
    }
    if (!header && rest.trim() !== '') yield rest
  } catch {} finally {
    closeSync(fd)
  }
}

// Linux lists every socket of this network namespace with its inode, address and state; fstat gives the
// inode of each fd. That is how an fd is checked without opening a handle on it (which would accept).
function linuxTables (wanted: Set<number>): Tables | undefined {
  if (process.platform !== 'linux') return undefined
  const byInode = new Map<number, FdFact>()
  const found = new Set<number>()
  const done = (): boolean => found.size === wanted.size
  const note = (inode: number, fact: FdFact): void => {
    byInode.set(inode, fact)
    if (wanted.has(inode)) found.add(inode)
  }
  // A table read in chunks can skip lines when sockets come and go between two reads (the kernel resumes
  // by position), so a socket we hold and did not find is looked for again.
  for (let pass = 0; pass < 3 && !done(); pass++) {
    for (const [file, decode] of [['tcp', ipv4], ['tcp6', ipv6]] as const) {
      if (done()) break
      for (const line of readTable(`/proc/self/net/${file}`, done)) {
        const f = line.trim().split(/\s+/)
        const [host, port] = (f[1] ?? '').split(':')
        const inode = Number(f[9])
        if (host === undefined || port === undefined || !Number.isSafeInteger(inode) || inode === 0) continue
        const portNumber = parseInt(port, 16)
        // Bound and never connected (TCP_CLOSE with a port): what `reload run` hands its first worker, whose
        // listen() makes it listen.
        note(inode, { kind: 'tcp', host: decode(host), port: portNumber, listening: f[3] === '0A', bound: f[3] === '07' && portNumber !== 0 })
      }
    }
    for (const line of done() ? [] : readTable('/proc/self/net/unix', done)) {
      const f = line.trim().split(/\s+/)
      const inode = Number(f[6])
      if (!Number.isSafeInteger(inode) || inode === 0) continue
      const path = f.slice(7).join(' ')
      // __SO_ACCEPTCON: the socket listens.
      const listening = (parseInt(f[3] ?? '0', 16) & 0x10000) !== 0
      note(inode, { kind: 'unix', path: path === '' ? undefined : path.replace(/^@/, '\0'), listening, bound: !listening && f[5] === '01' && path !== '' && f[4] === '0001' })
    }
  }
  return byInode.size > 0 ? { byInode } : undefined
}

/**
 * Describes each of `fds` without opening, reading or closing any of them; without `tables`, a socket is
 * only a socket (`other socket`, not known), and the kernel's socket tables are not read.
 */
export function inspectFds (fds: number[], { tables: read = true }: { tables?: boolean } = {}): Map<number, FdFact> {
  const facts = new Map<number, FdFact>()
  const sockets = new Map<number, number>()
  for (const fd of fds) {
    let stat
    try {
      stat = fstatSync(fd)
    } catch (err) {
      facts.set(fd, { kind: 'missing', detail: (err as NodeJS.ErrnoException).code ?? String(err) })
      continue
    }
    if (!stat.isSocket()) {
      const what = stat.isFile() ? 'a regular file' : stat.isFIFO() ? 'a pipe' : stat.isCharacterDevice() ? 'a terminal or device' : stat.isDirectory() ? 'a directory' : 'not a socket'
      facts.set(fd, { kind: 'not a socket', detail: what })
      continue
    }
    sockets.set(fd, stat.ino)
  }
  if (sockets.size === 0) return facts
  const tables = read ? linuxTables(new Set(sockets.values())) : undefined
  for (const [fd, inode] of sockets) facts.set(fd, tables?.byInode.get(inode) ?? { kind: 'other socket', known: tables !== undefined })
  return new Map(fds.filter((fd) => facts.has(fd)).map((fd) => [fd, facts.get(fd) as FdFact]))
}
