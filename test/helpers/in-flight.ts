import http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * Sends one request to `server`, whose handler waits until `release()`; returns what `count()` (the
 * reloader's in-flight requests) said meanwhile, once the response came back as `done`.
 */
export async function inFlight (server: http.Server, release: () => void, count: () => number): Promise<number> {
  const { port } = server.address() as AddressInfo
  const response = new Promise<string>((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: '/', agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const requests = count()
  release()
  if (await response !== 'done') throw new Error('the held request did not answer "done"')
  return requests
}
