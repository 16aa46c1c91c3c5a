// The seed's demo over HTTP/2 without TLS (h2c, prior knowledge): GET /?sleep=<seconds> waits, then
// answers with the pid that served it. At a reload every session gets a graceful GOAWAY: streams in
// flight finish on the old pid, new streams go to the new one.
import http2 from 'node:http2'
import { reloader } from '@reload/core'

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'

const server = http2.createServer()
server.on('stream', (stream, headers) => {
  const sleep = Number(new URL(headers[':path'] ?? '/', 'http://localhost').searchParams.get('sleep')) || 0
  const timer = setTimeout(() => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' })
    stream.end(`ospid:${process.pid}`)
  }, Math.max(0, sleep) * 1000)
  stream.once('close', () => clearTimeout(timer))
})

reloader().listen(server, port, host, () => {
  console.log(`listening on http://${host}:${server.address().port} (h2c, pid ${process.pid})`)
})
