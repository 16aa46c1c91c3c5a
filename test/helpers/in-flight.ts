import http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * Requests that an in-process handler holds until the test lets them go. The handler calls
 * `await held.here()`; the test awaits `held.arrived()`, which resolves once the next request reached
 * `here()`, with the function that releases it. No sleep stands in for "the request has arrived".
 */
export class Held {
  readonly #arrived: Array<() => void> = []
  readonly #waiting: Array<(release: () => void) => void> = []

  /** In the handler: announces the request, and resolves when the test releases it. */
  async here (): Promise<void> {
    await new Promise<void>((resolve) => {
      // Resolving this promise is what releases the request.
      const next = this.#waiting.shift()
      if (next !== undefined) next(resolve)
      else this.#arrived.push(resolve)
    })
  }

  /** Resolves once the next request (in order of arrival) is held; returns its release. */
  async arrived (): Promise<() => void> {
    const release = this.#arrived.shift()
    if (release !== undefined) return release
    return await new Promise((resolve) => this.#waiting.push(resolve))
  }
}

/**
 * Sends one request to `server`, whose handler holds it with `held.here()` and then answers `done`;
 * returns what `count()` (the reloader's in-flight requests) said while it was held.
 */
export async function inFlight (server: http.Server, held: Held, count: () => number): Promise<number> {
  const { port } = server.address() as AddressInfo
  const response = new Promise<string>((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: '/', agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  const failed = response.then((body) => { throw new Error(`the request ended before the handler held it: ${JSON.stringify(body)}`) })
  failed.catch(() => {})
  const release = await Promise.race([held.arrived(), failed])
  const requests = count()
  release()
  if (await response !== 'done') throw new Error('the held request did not answer "done"')
  return requests
}
