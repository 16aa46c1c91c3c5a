// The seed's demo, end to end: a slow request finishes on the old pid while new requests get the new pid.
// Usage: node scripts/demo.mjs [http|fastify|express|koa]
import { spawn } from 'node:child_process'
import http from 'node:http'
import { fileURLToPath } from 'node:url'

const name = process.argv[2] ?? 'http'
const script = fileURLToPath(new URL(`../examples/${name}/server.js`, import.meta.url))
const port = process.env.PORT ?? '8080'
// Colour only on a terminal, and never with NO_COLOR (https://no-color.org): pipes and files get plain text.
const colour = process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === ''
const paint = (code, text) => colour ? `\x1b[${code}m${text}\x1b[0m` : text
const say = (text) => console.log(`${paint(1, 'demo:')} ${text}`)

function get (url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
}

const server = spawn(process.execPath, [script], { env: { ...process.env, PORT: port, HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] })
const pids = new Set([server.pid])
let output = ''
const waiters = []
for (const stream of [server.stdout, server.stderr]) {
  stream.setEncoding('utf8')
  stream.on('data', (chunk) => {
    output += chunk
    for (const line of chunk.trimEnd().split('\n')) console.log(`  ${paint(2, `| ${line}`)}`)
    // Every pid a line names: the emitting one (reload[<pid>]:) and the generations it starts (child=).
    for (const m of chunk.matchAll(/(?:\bpid[= ]|reload\[|\bchild=)(\d+)/g)) pids.add(Number(m[1]))
    for (const w of [...waiters]) w()
  })
}
function waitFor (pattern, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo: no ${pattern} within ${ms} ms`)), ms)
    const check = () => {
      const match = output.match(pattern)
      if (match === null) return
      clearTimeout(timer)
      waiters.splice(waiters.indexOf(check), 1)
      resolve(match)
    }
    waiters.push(check)
    check()
  })
}
function cleanup () { for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} } }
process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))
setTimeout(() => { console.error('demo: took too long'); process.exit(1) }, 60_000).unref()

try {
  say(`starting examples/${name}/server.js`)
  server.once('exit', (code) => { if (!output.includes('generation 2 ready')) { console.error(`demo: server exited (${code}); is port ${port} free? Set PORT=...`); process.exit(1) } })
  const [, url] = await waitFor(/listening on (http:\/\/\S+)/)
  const base = url.replace('localhost', '127.0.0.1')
  const [, oldPid] = await waitFor(/reload\[(\d+)\]: generation 1 ready \(/)
  say(`curl "${base}/?sleep=3"   (a slow request, taken by pid ${oldPid})`)
  const slow = get(`${base}/?sleep=3`)
  await new Promise((resolve) => setTimeout(resolve, 500))
  say(`kill -HUP ${oldPid}`)
  process.kill(Number(oldPid), 'SIGHUP')
  const [, newPid] = await waitFor(/reload\[(\d+)\]: generation 2 ready \(/)
  const fresh = await get(`${base}/?sleep=0`)
  say(`curl "${base}/?sleep=0"   -> ${fresh}`)
  const late = await slow
  say(`the slow request answered  -> ${late}`)
  await waitFor(new RegExp(`reload\\[${oldPid}\\]: exiting`))
  const ok = late === `ospid:${oldPid}` && fresh === `ospid:${newPid}`
  say(ok
    ? paint(32, `the slow request finished on the old pid ${oldPid}, the new request got the new pid ${newPid}, and pid ${oldPid} has exited.`)
    : paint(31, `unexpected: slow=${late} fresh=${fresh}`))
  process.kill(Number(newPid), 'SIGTERM')
  await waitFor(new RegExp(`reload\\[${newPid}\\]: exiting`))
  process.exit(ok ? 0 : 1)
} catch (err) {
  console.error(err.message)
  process.exit(1)
}
