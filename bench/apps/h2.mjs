// A plain HTTP/2 (cleartext) server without reload: the balance part's HTTP/2 sessions under `reload run`.
import http2 from 'node:http2'
import { host, port, served } from './serve.mjs'

// HTTP/1.1 too: the readiness checks of the bench (and PM2's) speak it.
const server = http2.createServer({ allowHTTP1: true }, (req, res) => res.end(`ospid:${process.pid}`))
server.listen(port, host, () => served(server.address(), (done) => server.close(done)))
