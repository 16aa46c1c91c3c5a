// examples/http without reload: the baseline for the naive restart, PM2 and the overhead runs.
import http from 'node:http'
import { host, port, seconds, served } from './serve.mjs'

const server = http.createServer((req, res) => {
  const sleep = seconds(new URL(req.url, 'http://localhost').searchParams.get('sleep'))
  setTimeout(() => res.end(`ospid:${process.pid}`), sleep * 1000)
})
server.listen(port, host, () => served(server.address(), (done) => server.close(done)))
