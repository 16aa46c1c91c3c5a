// The seed's demo on Koa: GET /?sleep=<seconds> waits, then answers with the pid that served it.
import Koa from 'koa'
import { withReload } from '@reload/koa'

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'

const app = new Koa()
app.use(async (ctx) => {
  const sleep = Number(ctx.query.sleep) || 0
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, sleep) * 1000))
  ctx.body = `ospid:${process.pid}`
})

// Same call as app.listen(): while draining, responses carry `Connection: close` without any code here.
const server = withReload(app).listen(port, host, () => {
  console.log(`listening on http://${host}:${server.address().port} (pid ${process.pid})`)
})
