import { reloader } from '@reload/core'
import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { reloadPlugin } from '../src/index.js'

afterAll(() => { reloader().stop() })

describe('app.reload.drain()', () => {
  it('serves the in-flight request with Connection: close, then runs app.close() and its onClose hooks', async () => {
    const events: string[] = []
    const app = Fastify()
    await app.register(reloadPlugin, { signal: false, shutdownSignals: false, exit: false, logger: false })
    app.addHook('onResponse', async (request) => { events.push(`responded ${request.url}`) })
    app.addHook('onClose', async () => {
      events.push('onClose started')
      await new Promise((resolve) => setTimeout(resolve, 50))
      events.push('onClose done')
    })
    app.get('/', async (request) => {
      await new Promise((resolve) => setTimeout(resolve, Number((request.query as { ms?: string }).ms ?? 0)))
      return `ospid:${process.pid}`
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const slow = fetch(`http://127.0.0.1:${port}/?ms=300`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const exited = new Promise((resolve) => app.reload.once('exit', resolve))
    await app.reload.drain()
    const res = await slow
    expect([res.status, res.headers.get('connection'), await res.text()]).toEqual([200, 'close', `ospid:${process.pid}`])
    expect(events).toEqual(['responded /?ms=300', 'onClose started', 'onClose done'])
    expect(await exited).toEqual({ code: 0, cut: { requests: 0, connections: 0 } })
    expect(app.reload.state).toBe('stopped')
    expect(app.server.listening).toBe(false)
  })
})
