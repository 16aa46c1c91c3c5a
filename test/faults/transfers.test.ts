import { createHash } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { Load, marked, startServer } from '@reload/test-helpers'
import { app, block, cleanUp, draining, servedBy, sha256Of, track } from './helpers.js'

afterEach(cleanUp)

const MiB = 1024 * 1024
const blocks = 50

describe('large transfers across a HUP', () => {
  it('a 50 MB download and a 50 MB upload in flight at the HUP both complete on the old pid, checksums intact', async () => {
    const expected = sha256Of(blocks)
    const { fixture, url, pid } = await startServer(app)
    const load = track(new Load(url, { connections: 8 }).start())
    await load.servedBy(pid, 20)

    // The download: its headers arrive, then the client reads nothing until the handover is over, so the
    // old pid is stuck mid-body (its socket buffers full) when it starts draining.
    const down = marked(`${url}/download?mb=${blocks}`)
    const downReq = http.get(down.url, { agent: false })
    const [downRes] = await once(downReq, 'response') as [http.IncomingMessage]
    downRes.pause()
    expect(await fixture.arrival(down.id)).toBe(pid)
    expect([downRes.statusCode, downRes.headers['x-pid'], downRes.headers['content-length']]).toEqual([200, String(pid), String(blocks * MiB)])

    // The upload: headers and the first MiB before the HUP, the other 49 after the old pid drains.
    const up = marked(`${url}/upload`)
    const upReq = http.request(up.url, { method: 'POST', agent: false, headers: { 'content-length': String(blocks * MiB) } })
    const upRes = once(upReq, 'response') as Promise<[http.IncomingMessage]>
    upReq.write(block(0))
    expect(await fixture.arrival(up.id)).toBe(pid)

    fixture.signal('SIGHUP', pid)
    const next = await fixture.ready(2)
    await draining(fixture, pid)

    const downloaded = (async () => {
      const hash = createHash('sha256')
      let bytes = 0
      downRes.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length })
      downRes.resume()
      await once(downRes, 'end')
      return { bytes, sha256: hash.digest('hex') }
    })()
    for (let i = 1; i < blocks; i++) {
      if (!upReq.write(block(i))) await once(upReq, 'drain')
    }
    upReq.end()
    const [res] = await upRes
    let body = ''
    res.setEncoding('utf8')
    for await (const chunk of res) body += chunk as string

    expect(await downloaded).toEqual({ bytes: blocks * MiB, sha256: expected })
    expect(res.statusCode).toBe(200)
    expect(JSON.parse(body)).toEqual({ sha256: expected, bytes: blocks * MiB, pid })
    // Its answer came after the drain began: it tells the client the connection closes.
    expect(res.headers.connection).toBe('close')

    await load.servedBy(next, 20)
    const outcomes = await load.stop()
    expect(load.failures).toEqual([])
    expect(Object.keys(servedBy(outcomes)).map(Number).sort()).toEqual([pid, next].sort())
    expect(await fixture.exit).toEqual({ code: 0, signal: null })
    console.info(`transfers: 50 MiB down and 50 MiB up on old pid ${pid}, sha256 match; load ${outcomes.length} requests, ` +
      `${load.failures.length} failed, served by ${JSON.stringify(servedBy(outcomes))}`)
  })
})
