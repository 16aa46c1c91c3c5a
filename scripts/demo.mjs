// The seed's demo, end to end: a slow request finishes on the old pid while new requests get the new pid.
// Usage: node scripts/demo.mjs [http|fastify|express|koa|http2|websocket|sse]
// With websocket and sse, a long-lived client also lives through the reload and moves to the new pid.
import { spawn } from 'node:child_process'
import http from 'node:http'
import http2 from 'node:http2'
import { fileURLToPath } from 'node:url'

const name = process.argv[2] ?? 'http'
const script = fileURLToPath(new URL(`../examples/${name}/server.js`, import.meta.url))
const port = process.env.PORT ?? '8080'
// Colour only on a terminal, and never with NO_COLOR (https://no-color.org): pipes and files get plain text.
const colour = process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === ''
const paint = (code, text) => colour ? `\x1b[${code}m${text}\x1b[0m` : text
const say = (text) => console.log(`${paint(1, 'demo:')} ${text}`)

function get (url) {
  if (name === 'http2') return get2(url)
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
}

// Like `curl --http2-prior-knowledge`: a session of its own for each request.
function get2 (url) {
  return new Promise((resolve, reject) => {
    const { origin, pathname, search } = new URL(url)
    const session = http2.connect(origin)
    session.on('error', reject)
    const stream = session.request({ ':path': pathname + search })
    let body = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk) => { body += chunk })
    stream.on('end', () => { session.close(); resolve(body) })
    stream.on('error', reject)
    stream.end()
  })
}

// A WebSocket client that asks for the pid, and says how its connection ended.
async function webSocket (base) {
  const { WebSocket } = await import('ws')
  const ws = new WebSocket(base.replace('http:', 'ws:'))
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${code} ${reason}`)))
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const pid = new Promise((resolve) => ws.once('message', (data) => resolve(String(data))))
  ws.send('pid')
  return { pid: await pid, closed }
}

// An EventSource as browsers have it: on the end of the stream, it waits `retry:` ms and reconnects with
// Last-Event-ID. Stops after `until(event)` says so.
function eventSource (url, until) {
  const events = []
  let retry = 1000
  let lastId
  return new Promise((resolve, reject) => {
    const connect = () => {
      const headers = lastId === undefined ? {} : { 'last-event-id': lastId }
      const req = http.get(url, { agent: false, headers }, (res) => {
        let buffer = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          buffer += chunk
          let end
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const event = {}
            for (const line of block.split('\n')) {
              const [field, ...rest] = line.split(': ')
              if (field === 'retry') retry = Number(rest.join(': '))
              else if (field === 'id' || field === 'data') event[field] = rest.join(': ')
            }
            if (event.id === undefined) continue
            lastId = event.id
            events.push(event)
            if (until(event)) { req.destroy(); resolve(events); return }
          }
        })
        res.on('end', () => setTimeout(connect, retry))
      })
      req.on('error', reject)
    }
    connect()
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
  const curl = name === 'http2' ? 'curl --http2-prior-knowledge' : 'curl'
  say(`${curl} "${base}/?sleep=3"   (a slow request, taken by pid ${oldPid})`)
  const slow = get(`${base}/?sleep=3`)
  const ws = name === 'websocket' ? await webSocket(base) : undefined
  if (ws !== undefined) say(`a WebSocket sends pid            -> ${ws.pid}`)
  let sse
  if (name === 'sse') {
    say(`an EventSource on ${base}/events`)
    let fromNew = 0
    // Three events from the new pid show the stream goes on there.
    sse = eventSource(`${base}/events`, (event) => event.data !== `ospid:${oldPid}` && ++fromNew === 3)
  }
  await new Promise((resolve) => setTimeout(resolve, 500))
  say(`kill -HUP ${oldPid}`)
  process.kill(Number(oldPid), 'SIGHUP')
  const [, newPid] = await waitFor(/reload\[(\d+)\]: generation 2 ready \(/)
  const fresh = await get(`${base}/?sleep=0`)
  say(`${curl} "${base}/?sleep=0"   -> ${fresh}`)
  const late = await slow
  say(`the slow request answered  -> ${late}`)
  let longLived = true
  if (ws !== undefined) {
    const closed = await ws.closed
    const again = await webSocket(base)
    say(`the WebSocket was closed with  -> ${closed}; it reconnects and sends pid -> ${again.pid}`)
    longLived = closed.startsWith('1001 ') && again.pid === `ospid:${newPid}`
  }
  if (sse !== undefined) {
    const events = await sse
    const ids = events.map((e) => Number(e.id))
    const last = events.findLast((e) => e.data === `ospid:${oldPid}`)
    const first = events.find((e) => e.data === `ospid:${newPid}`)
    const gaps = ids.slice(1).filter((id, i) => id !== ids[i] + 1).length
    say(`events ${ids[0]}..${last?.id} came from pid ${oldPid}, ${first?.id}..${ids.at(-1)} from pid ${newPid}: ${gaps} gaps, ${ids.length} events`)
    longLived = gaps === 0 && last !== undefined && first !== undefined && Number(first.id) === Number(last.id) + 1
  }
  await waitFor(new RegExp(`reload\\[${oldPid}\\]: exiting`))
  const ok = late === `ospid:${oldPid}` && fresh === `ospid:${newPid}` && longLived
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
