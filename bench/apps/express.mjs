// examples/express without reload: the baseline for the naive restart, PM2 and the overhead runs.
import express from 'express'
import { host, port, seconds, served } from './serve.mjs'

const app = express()
app.get('/', (req, res) => {
  setTimeout(() => res.send(`ospid:${process.pid}`), seconds(req.query.sleep) * 1000)
})
const server = app.listen(port, host, () => served(server.address(), (done) => server.close(done)))
