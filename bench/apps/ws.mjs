// A plain WebSocket server (the `ws` package) without reload: the balance part's WebSocket clients under
// `reload run`. Each client is told the pid that holds it, and every message is answered with it.
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { host, port, served } from './serve.mjs'

const server = http.createServer((req, res) => res.end(`ospid:${process.pid}`))
const wss = new WebSocketServer({ server })
wss.on('connection', (socket) => {
  socket.send(`ospid:${process.pid}`)
  socket.on('message', () => socket.send(`ospid:${process.pid}`))
})
server.listen(port, host, () => served(server.address(), (done) => { for (const c of wss.clients) c.terminate(); server.close(done) }))
