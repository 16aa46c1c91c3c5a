// bench/apps/express.mjs as CommonJS, as most Express apps are written: the start part's case for the
// preload's CommonJS entry (a CommonJS app starts without Node's ES module loader).
const express = require('express')

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'
const app = express()
app.get('/', (req, res) => { res.send(`ospid:${process.pid}`) })
const server = app.listen(port, host, () => {
  console.log(`listening on http://${host}:${server.address().port} (pid ${process.pid})`)
})
