// Preloaded with `--import` into every node process the integration tests start, and so into every
// generation after it (the reloader passes execArgv on): when a server receives a request whose URL
// carries `arrival=<id>`, it prints `request <url> pid=<pid>`, the moment a test can know that this pid has
// the request in flight. Node's own diagnostics channel says when a request starts: no code in the
// examples and fixtures, and nothing of Node's patched.
import { subscribe } from 'node:diagnostics_channel'

subscribe('http.server.request.start', ({ request }) => {
  if (request.url?.includes('arrival=')) process.stdout.write(`request ${request.url} pid=${process.pid}\n`)
})
