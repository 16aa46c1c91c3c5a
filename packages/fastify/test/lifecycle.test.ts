import { Writable } from 'node:stream'
import { reloader } from '@reload/core'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reloadPlugin } from '../src/index.js'

// This file's one app makes the process reloader with its default signal handlers (exit: false keeps a
// stray signal from ending the test runner) and with Fastify's logger, which it should log through.
const signals = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const
const counts = (): number[] => signals.map((signal) => process.listenerCount(signal))
const before = counts()
const lines: Array<Record<string, unknown>> = []
let app: FastifyInstance

beforeAll(async () => {
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  app = Fastify({ logger: { level: 'info', stream } })
  await app.register(reloadPlugin, { exit: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
})
afterAll(async () => {
  await app.close()
  reloader().detach()
})

describe('reloadPlugin lifecycle', () => {
  it("logs reload's events through app.log", () => {
    const { port } = app.server.address() as { port: number }
    const ready = lines.find((line) => line.msg === 'generation 1 ready')
    expect(ready).toMatchObject({ level: 30, pid: process.pid, generation: 1, listening: `tcp-127.0.0.1-${port}-any` })
  })

  it('installs the upgrade and shutdown signal handlers, and app.close() removes them', async () => {
    expect(counts()).toEqual(before.map((n) => n + 1))
    await app.close()
    expect(counts()).toEqual(before)
    expect(app.reload.state).toBe('starting')
  })
})
