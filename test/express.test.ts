import http from 'node:http'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, startProcess } from '@reload/test-helpers'

// The seed demo and the handover contract run for every Express variant in adapter-express*.test.ts;
// here, only what is Express's own: how each major reports a listen error.

const script = 'test/fixtures/express-app.js'

// A port some other process holds, for listen errors.
async function takenPort (): Promise<{ port: number, release: () => void }> {
  const blocker = http.createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  return { port: (blocker.address() as { port: number }).port, release: () => blocker.close() }
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
