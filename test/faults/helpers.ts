// What the fault suite needs beyond @reload/test-helpers.
import { createHash } from 'node:crypto'
import { readdirSync, readlinkSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { closeAll, copyOf as copy, type Fixture, type Outcome } from '@reload/test-helpers'

const loads = new Set<{ stop: () => Promise<unknown> }>()

/** Registers a load for {@link cleanUp} to stop; returns it. */
export function track<T extends { stop: () => Promise<unknown> }> (load: T): T {
  loads.add(load)
  return load
}

/**
 * For `afterEach`: kills every process (`closeAll()`), then stops the loads a failed test left running,
 * which would otherwise go on failing in a tight loop through the next tests.
 */
export async function cleanUp (): Promise<void> {
  await closeAll()
  await Promise.all([...loads].map(async (load) => await load.stop()))
  loads.clear()
}

/** The fault suite's app (test/faults/fixtures/app.js), from the repository root. */
export const app = 'test/faults/fixtures/app.js'

/** A copy of the fault suite's app (or `script`) that the test rewrites between generations. */
export function copyOf (script = app): ReturnType<typeof copy> {
  return copy(script)
}

/**
 * Waits until `pid` logs that it drains (the new generation logs ready a moment before the old one stops
 * accepting); returns when, by the test's clock.
 */
export async function draining (fixture: Fixture, pid: number, timeout = 10_000): Promise<number> {
  const { index } = await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`), { timeout })
  return fixture.lines[index]?.at as number
}

/** The pid of the new generation that `text` (an error line) names. */
export function childPid (text: string): number {
  const pid = /new generation \(pid (\d+)\)|handover to pid (\d+)/.exec(text)
  if (pid === null) throw new Error(`no child pid in ${JSON.stringify(text)}`)
  return Number(pid[1] ?? pid[2])
}

const MiB = 1024 * 1024

/** Block `i` of a transfer, as the app makes it: 1 MiB. */
export function block (i: number): Buffer {
  return Buffer.alloc(MiB, createHash('sha256').update(`block ${i}`).digest())
}

/** The sha256 of blocks 0 to `n` - 1. */
export function sha256Of (n: number): string {
  const hash = createHash('sha256')
  for (let i = 0; i < n; i++) hash.update(block(i))
  return hash.digest('hex')
}

/** Which pids answered, and how many each. */
export function servedBy (outcomes: Outcome[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const { pid } of outcomes) if (pid !== undefined) counts[pid] = (counts[pid] ?? 0) + 1
  return counts
}

/** The open fds of `pid`, and what each one is (`socket:[…]`, `pipe:[…]`, a path). */
export function fdsOf (pid: number): string[] {
  const dir = `/proc/${pid}/fd`
  return readdirSync(dir).map((fd) => {
    try { return `${fd} ${readlinkSync(join(dir, fd))}` } catch { return `${fd} (closed)` }
  })
}

/**
 * A raw TCP client: the test decides what bytes go out and when. `received` is everything read so far;
 * `closed` resolves when the socket closes, with the error it had, if any.
 */
export function rawClient (url: string): { socket: net.Socket, received: () => string, closed: Promise<{ error?: string }>, until: (pattern: RegExp, timeout?: number) => Promise<void> } {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  let data = ''
  let error: string | undefined
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { data += chunk })
  socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message })
  const closed = new Promise<{ error?: string }>((resolve) => {
    socket.once('close', () => resolve(error !== undefined ? { error } : {}))
  })
  return {
    socket,
    received: () => data,
    closed,
    async until (pattern, timeout = 10_000) {
      const deadline = Date.now() + timeout
      while (!pattern.test(data)) {
        if (socket.destroyed) throw new Error(`the socket closed before ${pattern}: ${JSON.stringify(data)}`)
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${pattern}: ${JSON.stringify(data)}`)
        await new Promise<void>((resolve) => {
          const done = (): void => { clearTimeout(timer); socket.off('data', done); socket.off('close', done); resolve() }
          const timer = setTimeout(done, left)
          socket.on('data', done)
          socket.on('close', done)
        })
      }
    }
  }
}

/** Writes `chunk` to `socket` every `every` ms until the socket closes; returns what stops it sooner. */
export function dribble (socket: net.Socket, chunk: string, every = 100): () => void {
  const timer = setInterval(() => { if (!socket.destroyed) socket.write(chunk) }, every)
  socket.once('close', () => clearInterval(timer))
  return () => clearInterval(timer)
}

/** One GET on `agent`'s pooled socket (if it has one): the outcome, and whether it went on a reused socket. */
export function getOn (agent: http.Agent, url: string, timeout = 10_000): Promise<Outcome & { reused?: boolean }> {
  const start = Date.now()
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ start, ms: Date.now() - start, status: res.statusCode, body, headers: res.headers, pid: Number(/ospid:(\d+)/.exec(body)?.[1]), reused: req.reusedSocket }))
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ start, ms: Date.now() - start, error: err.code ?? err.message, reused: req.reusedSocket }))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ start, ms: Date.now() - start, error: err.code ?? err.message, reused: req.reusedSocket }))
  })
}
