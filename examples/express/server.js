// The seed's demo on Express: GET /?sleep=<seconds> waits, then answers with the pid that served it.
import express from 'express'
import { withReload } from '@reload/express'

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'

const app = express()
app.get('/', (req, res) => {
  const sleep = Number(req.query.sleep) || 0
  setTimeout(() => res.send(`ospid:${process.pid}`), Math.max(0, sleep) * 1000)
})

// Same call as app.listen(): while draining, responses carry `Connection: close` without any code here.
const server = withReload(app).listen(port, host, (err) => {
  if (err) throw err
  console.log(`listening on http://${host}:${server.address().port} (pid ${process.pid})`)
})
