// Server-Sent Events: GET /events streams `id: <n>` and `data: ospid:<pid>` every 100 ms, where n counts
// 100 ms ticks of the clock, so every generation agrees on it. At a reload the stream ends with a last
// `retry:`, the client reconnects to the new pid with `Last-Event-ID`, and the new pid first sends the
// ticks the client missed: no event is lost. GET /?sleep=<seconds> answers `ospid:<pid>` as in the seed.
import http from 'node:http'
import { eventStream, reloader } from '@reload/core'

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'
const TICK = 100

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost')
  if (url.pathname === '/events') return events(req, res)
  const sleep = Number(url.searchParams.get('sleep')) || 0
  setTimeout(() => res.end(`ospid:${process.pid}`), Math.max(0, sleep) * 1000)
})

function events (req, res) {
  const stream = eventStream(req, res)
  const now = () => Math.floor(Date.now() / TICK)
  const resumed = Number(stream.lastEventId)
  // A client that was here before resumes after its last event, within the last minute.
  let next = Number.isInteger(resumed) && resumed >= now() - 600 ? resumed + 1 : now()
  const tick = () => {
    while (next <= now()) stream.send({ id: next++, data: `ospid:${process.pid}` })
  }
  tick()
  const timer = setInterval(tick, TICK)
  stream.signal.addEventListener('abort', () => clearInterval(timer))
}

reloader().listen(server, port, host, () => {
  console.log(`listening on http://${host}:${server.address().port} (events on /events, pid ${process.pid})`)
})
