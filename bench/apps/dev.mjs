// The app of the dev part: plain node:http, no reload code, all of it in this one file. The bench copies it
// to a folder of its own and rewrites it at each save with the next VERSION; the answer carries the
// version, so the bench can tell the new code from the old: `ospid:<pid> version:<N>`. `?sleep=` seconds
// delay the answer, as in the other plain apps.
import http from 'node:http'

const VERSION = 0

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'

const server = http.createServer((req, res) => {
  const sleep = Number(new URL(req.url, 'http://localhost').searchParams.get('sleep'))
  setTimeout(() => res.end(`ospid:${process.pid} version:${VERSION}`), Number.isFinite(sleep) && sleep > 0 ? sleep * 1000 : 0)
})
server.listen(port, host, () => console.log(`listening on http://${host}:${server.address().port} (pid ${process.pid})`))
