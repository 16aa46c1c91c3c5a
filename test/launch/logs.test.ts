// With a pino logger (Fastify's app.log), every line names one pid, the process that wrote it: pino adds
// it, and reload names any other process differently (child=, parent=).
import { afterEach, describe, expect, it } from 'vitest'
import { get } from '@reload/test-helpers'
import { appDir, cleanUp, place, run } from './helpers.js'

afterEach(cleanUp)

interface Entry { pid: number, msg: string, child?: number, [key: string]: unknown }

describe('logs through pino', () => {
  it('each JSON line has one pid, the emitting process; the new generation is child=', async () => {
    const dir = appDir(['@reload/fastify', 'fastify'])
    place('pino-app.js', dir, { name: 'server.js' })
    const fixture = run(process.execPath, ['server.js'], { cwd: dir })
    const ready1 = await fixture.waitFor(/^\{.*"msg":"generation 1 ready"/)
    const first = (JSON.parse(ready1.match.input as string) as Entry).pid
    expect(first).toBe(fixture.child.pid)
    const { match } = await fixture.waitFor(/"msg":"Server listening at (http:\/\/[^"]+)"/)
    const url = match[1] as string
    expect((await get(url)).pid).toBe(first)
    fixture.signal('SIGHUP', first)
    const ready2 = await fixture.waitFor(/^\{.*"msg":"generation 2 ready"/)
    const second = (JSON.parse(ready2.match.input as string) as Entry).pid
    expect((await get(url)).pid).toBe(second)
    await fixture.waitFor(/^\{.*"msg":"exiting"/)
    await fixture.gone(first)

    const lines = fixture.lines.map((l) => l.text)
    expect(lines.filter((text) => !text.startsWith('{'))).toEqual([])
    for (const text of lines) expect(text.match(/"pid":/g), text).toHaveLength(1)
    const entries = lines.map((text) => JSON.parse(text) as Entry)
    for (const entry of entries) expect([first, second]).toContain(entry.pid)
    const by = (msg: string): Entry => {
      const found = entries.find((e) => e.msg === msg)
      expect(found, msg).toBeDefined()
      return found as Entry
    }
    expect(by('generation 1 ready')).toMatchObject({ pid: first, generation: 1 })
    expect(by('SIGHUP received').pid).toBe(first)
    expect(by('starting generation 2')).toMatchObject({ pid: first, child: second })
    expect(by('generation 2 ready')).toMatchObject({ pid: second, generation: 2 })
    expect(by(`generation 2 ready; pid ${first} drains`)).toMatchObject({ pid: first, child: second })
    for (const msg of ['draining', 'drained', 'exiting']) expect(by(msg).pid).toBe(first)
  })
})
