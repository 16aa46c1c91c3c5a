// The supervision part's app: bench/apps/http.mjs (no reload code) with two faults a supervisor must catch.
//   GET /hang   spins forever (`while (true) {}`): the process lives on and holds its connections, but
//               answers nothing again.
//   --leak-mb=N retains N MB more every --leak-every ms (default 200), Buffer.alloc'd (filled, so resident)
//               and kept in an array, until --leak-cap-mb (default 500) is held: the cap keeps a supervisor
//               that checks only now and then (PM2: every 30 s) from taking the machine's memory.
// The leak is set by arguments (LEAK_MB, LEAK_EVERY, LEAK_CAP_MB in the environment otherwise): PM2 passes
// `args` to the app, and `reload run -- node hang-leak.mjs --leak-mb=10` does too.
import http from 'node:http'
import { host, port, seconds, served } from './serve.mjs'

const arg = (name, env, fallback) => {
  const given = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? process.env[env]
  const value = Number(given ?? fallback)
  return Number.isFinite(value) && value >= 0 ? value : fallback
}
const leakMb = arg('leak-mb', 'LEAK_MB', 0)
const leakEvery = Math.max(10, arg('leak-every', 'LEAK_EVERY', 200))
const leakCapMb = arg('leak-cap-mb', 'LEAK_CAP_MB', 500)
const kept = []
if (leakMb > 0) {
  setInterval(() => {
    if (kept.length * leakMb < leakCapMb) kept.push(Buffer.alloc(leakMb * 2 ** 20, 1))
  }, leakEvery)
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost')
  if (url.pathname === '/hang') {
    while (true) {
      // spin: no answer, no timer, no heartbeat, ever again
    }
  }
  const sleep = seconds(url.searchParams.get('sleep'))
  setTimeout(() => res.end(`ospid:${process.pid}`), sleep * 1000)
})
server.listen(port, host, () => served(server.address(), (done) => server.close(done)))
