import { reloader } from '@reload/core'
import { Held } from '@reload/test-helpers'
import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { reloadPlugin } from '../src/index.js'

afterAll(() => { reloader().detach() })

describe('app.reload.drain()', () => {
  it('serves the in-flight request with Connection: close, then runs app.close() and its onClose hooks', async () => {
    const events: string[] = []
    const app = Fastify()
    await app.register(reloadPlugin, { signal: false, shutdownSignals: false, exit: false, logger: false })
    app.addHook('onResponse', async (request) => { events.push(`responded ${request.url}`) })
    app.addHook('onClose', async () => {
      events.push('onClose started')
      await new Promise((resolve) => setImmediate(resolve))
      events.push('onClose done')
    })
    const held = new Held()
    app.get('/', async () => {
      await held.here()
      return `ospid:${process.pid}`
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const slow = fetch(`http://127.0.0.1:${port}/?held`)
    const release = await held.arrived()
    const exited = new Promise((resolve) => app.reload.once('exit', resolve))
    const draining = new Promise((resolve) => app.reload.once('drain', resolve))
    const drained = app.reload.drain()
    await draining
    release()
    await drained
    const res = await slow
    expect([res.status, res.headers.get('connection'), await res.text()]).toEqual([200, 'close', `ospid:${process.pid}`])
    expect(events).toEqual(['responded /?held', 'onClose started', 'onClose done'])
    expect(await exited).toEqual({ code: 0, cut: { requests: 0, connections: 0 } })
    expect(app.reload.state).toBe('stopped')
    expect(app.server.listening).toBe(false)
  })
})
