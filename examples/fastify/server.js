// The seed's demo on Fastify: GET /?sleep=<seconds> waits, then answers with the pid that served it.
import Fastify from 'fastify'
import reload, { serverFactory } from '@reload/fastify'

const port = Number(process.env.PORT ?? 8080)
// Unset, the default `localhost` binds every address it resolves to (127.0.0.1, and ::1 where
// /etc/hosts lists it): with reload's serverFactory, reload hands each of them over.
const host = process.env.HOST

// Fastify's own logger stays off, so reload writes its one-line events to stderr.
const app = Fastify({ serverFactory })
await app.register(reload)

app.get('/', async (request) => {
  const sleep = Number(request.query.sleep) || 0
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, sleep) * 1000))
  return `ospid:${process.pid}`
})

await app.listen({ port, host })
console.log(`listening on http://${host ?? 'localhost'}:${app.server.address().port} (pid ${process.pid})`)
