import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, type Fixture, startProcess, startServer } from './helpers/process.js'
import { get, request } from './helpers/http.js'

const script = 'test/fixtures/express-app.js'
const versions = { express: '5.3.0', express4: '4.22.3' } as const
const ca = readFileSync(new URL('fixtures/express-tls-cert.pem', import.meta.url))

// A port some other process holds, for listen errors.
async function takenPort (): Promise<{ port: number, release: () => void }> {
  const blocker = http.createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  return { port: (blocker.address() as { port: number }).port, release: () => blocker.close() }
}

// Keep-alive agents: with none, the client itself asks for `Connection: close` and the header proves nothing.
const agent = new http.Agent({ keepAlive: true })
const tlsAgent = new https.Agent({ keepAlive: true, ca })

function httpsGet (url: string, agent: https.Agent = tlsAgent): Promise<{ status: number, body: string, connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode as number, body, connection: res.headers.connection }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
  })
}

// Seconds a slow request takes: still in flight when the drain begins, even on a busy machine.
const held = 2.5

// The new generation logs ready once it has told the old one, which closes its listener a moment later:
// until the old one logs `draining`, a new connection may still land on it.
async function draining (fixture: Fixture, pid: number): Promise<void> {
  await fixture.waitFor(new RegExp(`^reload\\[${pid}\\]: draining`))
}

describe('withReload(app).listen() on a port that is taken', () => {
  afterEach(closeAll)

  for (const mode of ['native', 'reload']) {
    it(`Express 5, ${mode === 'native' ? 'app.listen' : 'withReload(app).listen'}: the callback gets the EADDRINUSE error, once`, async () => {
      const { port, release } = await takenPort()
      try {
        const fixture = startProcess(script, { env: { EXPRESS: 'express', MODE: mode, PORT: String(port) } })
        expect(await fixture.exit).toEqual({ code: 3, signal: null })
        expect(fixture.lines.filter((l) => l.text.startsWith('listen callback')).map((l) => l.text)).toEqual(['listen callback 1: EADDRINUSE'])
      } finally {
        release()
      }
    })

    it(`Express 4, ${mode === 'native' ? 'app.listen' : 'withReload(app).listen'}: the error is thrown and the process exits 1`, async () => {
      const { port, release } = await takenPort()
      try {
        const fixture = startProcess(script, { env: { EXPRESS: 'express4', MODE: mode, PORT: String(port) } })
        expect(await fixture.exit).toEqual({ code: 1, signal: null })
        expect(fixture.output).toContain(`Error: listen EADDRINUSE: address already in use 127.0.0.1:${port}`)
        expect(fixture.output).not.toContain('listen callback')
      } finally {
        release()
      }
    })
  }
})

describe('@reload/express handover', () => {
  afterEach(async () => {
    agent.destroy()
    tlsAgent.destroy()
    await closeAll()
  })

  for (const [name, mode] of [['Express 4, withReload(app).listen', 'reload'], ['Express 5, http.createServer(app) + attach', 'attach']] as const) {
    const module = mode === 'reload' ? 'express4' : 'express'
    it(`${name}: the slow request ends on the old pid with Connection: close, new ones get the new pid`, async () => {
      const { fixture, url, pid } = await startServer(script, { env: { EXPRESS: module, MODE: mode } })
      const first = await get(`${url}/`, { agent })
      expect(first.body).toBe(`ospid:${pid} express:${versions[module]}`)
      expect(first.headers?.connection).toBe('keep-alive')
      const slow = request(`${url}/?sleep=${held}`, { agent })
      await new Promise((resolve) => setTimeout(resolve, 200))
      fixture.signal('SIGHUP', pid)
      const next = await fixture.ready(2)
      await draining(fixture, pid)
      expect(next).not.toBe(pid)
      // A new connection (no agent): the pooled one may have been idle when the drain began.
      expect((await get(`${url}/`)).body).toBe(`ospid:${next} express:${versions[module]}`)
      const old = await slow
      expect(old.status).toBe(200)
      expect(old.body).toBe(`ospid:${pid} express:${versions[module]}`)
      expect(old.headers?.connection).toBe('close')
      await fixture.gone(pid)
      expect(fixture.output).toContain(`listening on http://127.0.0.1:${new URL(url).port} (pid ${next}) express:${versions[module]}`)
    })
  }

  it('Express 5, https.createServer(tls, app) + attach: the listener is handed over, TLS and all', async () => {
    const fixture = startProcess(script, { env: { EXPRESS: 'express', MODE: 'https', PORT: '0' } })
    const { match } = await fixture.waitFor(/listening on (https:\/\/\S+)/)
    const url = match[1] as string
    const pid = await fixture.ready(1)
    expect(await httpsGet(`${url}/`)).toEqual({ status: 200, body: `ospid:${pid} express:5.3.0`, connection: 'keep-alive' })
    const slow = httpsGet(`${url}/?sleep=${held}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await draining(fixture, pid)
    // A new connection: the pooled one may have been idle when the drain began, and is the old pid's.
    const fresh = new https.Agent({ keepAlive: true, ca })
    expect(await httpsGet(`${url}/`, fresh)).toEqual({ status: 200, body: `ospid:${next} express:5.3.0`, connection: 'keep-alive' })
    fresh.destroy()
    expect(await slow).toEqual({ status: 200, body: `ospid:${pid} express:5.3.0`, connection: 'close' })
    await fixture.gone(pid)
  })
})
