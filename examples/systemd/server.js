// The node:http demo with a pid file for systemd's PIDFile=, and the socket-activated fd taken by name.
import http from 'node:http'
import { reloader } from '@reload/core'

const reload = reloader({ pidFile: process.env.PID_FILE })
const server = http.createServer((req, res) => {
  const sleep = Number(new URL(req.url, 'http://localhost').searchParams.get('sleep')) || 0
  setTimeout(() => res.end(`ospid:${process.pid}`), Math.max(0, sleep) * 1000)
})

// With app.socket, systemd passes the socket named "http"; without it, this binds PORT itself.
reload.listen(server, { port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? '127.0.0.1', fdName: 'http' }, () => {
  console.log(`listening on http://127.0.0.1:${server.address().port} (pid ${process.pid})`)
})
