import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, startServer } from './helpers/process.js'
import { get } from './helpers/http.js'

afterEach(closeAll)

// The adapters ship ESM only; CommonJS apps load them with require(), which Node >= 20.19 supports.
describe('CommonJS apps', () => {
  it.each(['test/fixtures/express-cjs.cjs', 'test/fixtures/fastify-cjs.cjs'])('%s reloads', async (script) => {
    const { fixture, url, pid } = await startServer(script, { env: { NODE_NO_WARNINGS: '1' } })
    expect((await get(`${url}/`)).body).toBe(`ospid:${pid}`)
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await fixture.gone(pid)
    expect((await get(`${url}/`)).body).toBe(`ospid:${next}`)
  })
})
