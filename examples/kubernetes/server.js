// An app with no reload code. Under `reload run`, each worker preloads @reload/core/register: listen() takes
// the keeper's socket, and SIGTERM drains. The greeting is read once, at start, so a reload (fresh workers)
// picks up a changed file, such as a ConfigMap mounted as a volume. GET /?sleep=<seconds> waits first.
import http from 'node:http'
import { readFileSync } from 'node:fs'

const file = process.env.GREETING_FILE ?? '/etc/app/greeting'
let greeting = 'hello'
try {
  greeting = readFileSync(file, 'utf8').trim()
} catch (err) {
  console.log(`no greeting in ${file} (${err.code}): saying '${greeting}'`)
}

const server = http.createServer((req, res) => {
  const sleep = Number(new URL(req.url, 'http://localhost').searchParams.get('sleep')) || 0
  setTimeout(() => res.end(`${greeting} from ospid:${process.pid}\n`), Math.max(0, sleep) * 1000)
})

server.listen(Number(process.env.PORT ?? 8080), () => {
  console.log(`listening on port ${server.address().port} (pid ${process.pid})`)
})
