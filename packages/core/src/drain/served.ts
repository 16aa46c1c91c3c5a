import diagnostics from 'node:diagnostics_channel'

let count = 0
let listening = false
const onRequest = (): void => { count++ }

/**
 * Requests this process has taken: HTTP/1 requests from Node's own `http.server.request.start` channel (no
 * listener on any server, so nothing changes for the app), HTTP/2 streams from the ledgers that see them.
 */
export const served = {
  get count (): number { return count },
  /** Starts counting HTTP/1 requests; once per process. */
  start (): void {
    if (listening) return
    listening = true
    diagnostics.subscribe('http.server.request.start', onRequest)
  },
  /** An HTTP/2 stream: the compatibility API does not publish on the HTTP/1 channel. */
  stream (): void { count++ }
}
