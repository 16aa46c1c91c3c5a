// HTTP and WebSocket on one port. GET /?sleep=<seconds> answers `ospid:<pid>` as in the seed's demo; a
// WebSocket message `pid` is answered `ospid:<pid>`. At a reload every open WebSocket gets close code
// 1001 (Going Away), spread over reload's goAwayWindow, and its client reconnects to the new pid.
import http from 'node:http'
import { reloader, trackWebSockets } from '@reload/core'
import { WebSocketServer } from 'ws'

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'

const server = http.createServer((req, res) => {
  const sleep = Number(new URL(req.url, 'http://localhost').searchParams.get('sleep')) || 0
  setTimeout(() => res.end(`ospid:${process.pid}`), Math.max(0, sleep) * 1000)
})

const wss = new WebSocketServer({ server })
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    if (String(data) === 'pid') ws.send(`ospid:${process.pid}`)
  })
})
trackWebSockets(wss)

reloader().listen(server, port, host, () => {
  console.log(`listening on http://${host}:${server.address().port} and ws://${host}:${server.address().port} (pid ${process.pid})`)
})
