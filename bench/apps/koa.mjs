// examples/koa without reload: the baseline for the naive restart, PM2 and the overhead runs.
import Koa from 'koa'
import { host, port, served, wait } from './serve.mjs'

const app = new Koa()
app.use(async (ctx) => {
  await wait(ctx.query.sleep)
  ctx.body = `ospid:${process.pid}`
})
const server = app.listen(port, host, () => served(server.address(), (done) => server.close(done)))
