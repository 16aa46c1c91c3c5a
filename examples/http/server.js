// The seed's demo on node:http: GET /?sleep=<seconds> waits, then answers with the pid that served it.
import http from 'node:http'
import { reloader } from '@reload/core'

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'

const server = http.createServer((req, res) => {
  const sleep = Number(new URL(req.url, 'http://localhost').searchParams.get('sleep')) || 0
  setTimeout(() => res.end(`ospid:${process.pid}`), Math.max(0, sleep) * 1000)
})

reloader().listen(server, port, host, () => {
  console.log(`listening on http://${host}:${server.address().port} (pid ${process.pid})`)
})
