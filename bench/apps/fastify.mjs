// examples/fastify without reload: the baseline for the naive restart, PM2 and the overhead runs.
// A careful user closes Fastify itself on SIGINT, which answers 503 to requests that still arrive.
import Fastify from 'fastify'
import { host, port, served, wait } from './serve.mjs'

const app = Fastify()
app.get('/', async (request) => {
  await wait(request.query.sleep)
  return `ospid:${process.pid}`
})
await app.listen({ port, host })
served(app.server.address(), (done) => app.close(done))
