import diagnostics from 'node:diagnostics_channel'

// Shared by every copy of @reload/core in the process: the preload's bundled reloader counts, and the app's
// own copy (its reloadMetrics()) reads.
const key = Symbol.for('@reload/core/served')
const tally = (globalThis as { [key]?: { count: number, listening: boolean } })[key] ??= { count: 0, listening: false }
const onRequest = (): void => { tally.count++ }

/**
 * Requests this process has taken: HTTP/1 requests from Node's own `http.server.request.start` channel (no
 * listener on any server, so nothing changes for the app), HTTP/2 streams from the ledgers that see them.
 */
export const served = {
  get count (): number { return tally.count },
  /** Starts counting HTTP/1 requests; once per process. */
  start (): void {
    if (tally.listening) return
    tally.listening = true
    diagnostics.subscribe('http.server.request.start', onRequest)
  },
  /** An HTTP/2 stream: the compatibility API does not publish on the HTTP/1 channel. */
  stream (): void { tally.count++ }
}
