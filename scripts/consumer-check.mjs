#!/usr/bin/env node
// The packages as a user gets them: `pnpm pack` every package, install the tarballs with npm (and the
// frameworks from the registry) in a fresh folder outside the workspace, type-check a strict TypeScript
// consumer per framework (nodenext, strict, no skipLibCheck), and run the seed demo from there through each
// adapter (ESM and CommonJS) and through `reload run` of @reload/cli.
//
//   node scripts/consumer-check.mjs          (KEEP=1 keeps the temporary folder and says where it is)
//
// Prints each check as it goes; exits 1 with the reason at the first failure. Kills every process it
// started, by pid, and removes its temporary folder.
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const packages = ['core', 'express', 'fastify', 'koa', 'cli']
const started = Date.now()
const work = mkdtempSync(join(tmpdir(), 'reload-consumer-'))
const packs = join(work, 'packs')
const app = join(work, 'app')
/** Every pid this script started or saw named in the output of what it started. */
const pids = new Set()
const children = new Set()
let checks = 0

const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
function ok (what) { checks++; console.log(`  ok  ${what}`) }
function fail (what) { throw new Error(what) }
function expect (condition, what, detail = '') { if (!condition) fail(`${what}${detail ? `: ${detail}` : ''}`); ok(what) }

/** Runs a command to its end; rejects with its output when it fails. */
function run (command, args, { cwd = root, env = process.env, timeout = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

// ---- what runs in the consumer's folder ----

// The seed demo as a user writes it, per adapter: GET /?sleep=<s> answers ospid:<pid>. Each server prints
// `request <url> pid=<pid>` when a request arrives, so the check knows a slow request is in flight.
const servers = {
  'core.js': `import http from 'node:http'
import { reloader } from '@reload/core'
const server = http.createServer((req, res) => {
  console.log(\`request \${req.url} pid=\${process.pid}\`)
  const sleep = new URL(req.url, 'http://x').searchParams.get('sleep')
  setTimeout(() => res.end(\`ospid:\${process.pid}\`), Math.max(0, Number(sleep) || 0) * 1000)
})
reloader().listen(server, Number(process.env.PORT), '127.0.0.1', () => {
  console.log(\`listening on http://127.0.0.1:\${server.address().port} (pid \${process.pid})\`)
})
`,
  'express.js': `import express from 'express'
import { withReload } from '@reload/express'
const app = express()
app.get('/', (req, res) => {
  console.log(\`request \${req.url} pid=\${process.pid}\`)
  setTimeout(() => res.send(\`ospid:\${process.pid}\`), Math.max(0, Number(req.query.sleep) || 0) * 1000)
})
const server = withReload(app).listen(Number(process.env.PORT), '127.0.0.1', (err) => {
  if (err) throw err
  console.log(\`listening on http://127.0.0.1:\${server.address().port} (pid \${process.pid})\`)
})
`,
  'express.cjs': `const express = require('express')
const { withReload } = require('@reload/express')
const app = express()
app.get('/', (req, res) => {
  console.log(\`request \${req.url} pid=\${process.pid}\`)
  setTimeout(() => res.send(\`ospid:\${process.pid}\`), Math.max(0, Number(req.query.sleep) || 0) * 1000)
})
const server = withReload(app).listen(Number(process.env.PORT), '127.0.0.1', (err) => {
  if (err) throw err
  console.log(\`listening on http://127.0.0.1:\${server.address().port} (pid \${process.pid})\`)
})
`,
  'fastify.js': `import Fastify from 'fastify'
import { reloadPlugin, serverFactory } from '@reload/fastify'
const app = Fastify({ serverFactory })
await app.register(reloadPlugin)
app.get('/', async (request) => {
  console.log(\`request \${request.url} pid=\${process.pid}\`)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(request.query.sleep) || 0) * 1000))
  return \`ospid:\${process.pid}\`
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
console.log(\`listening on http://127.0.0.1:\${app.server.address().port} (pid \${process.pid})\`)
`,
  'fastify.cjs': `const Fastify = require('fastify')
const { reloadPlugin, serverFactory } = require('@reload/fastify')
const app = Fastify({ serverFactory })
app.register(reloadPlugin)
app.get('/', async (request) => {
  console.log(\`request \${request.url} pid=\${process.pid}\`)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(request.query.sleep) || 0) * 1000))
  return \`ospid:\${process.pid}\`
})
app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' }).then(() => {
  console.log(\`listening on http://127.0.0.1:\${app.server.address().port} (pid \${process.pid})\`)
})
`,
  'koa.js': `import Koa from 'koa'
import { withReload } from '@reload/koa'
const app = new Koa()
app.use(async (ctx) => {
  console.log(\`request \${ctx.url} pid=\${process.pid}\`)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(ctx.query.sleep) || 0) * 1000))
  ctx.body = \`ospid:\${process.pid}\`
})
const server = withReload(app).listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(\`listening on http://127.0.0.1:\${server.address().port} (pid \${process.pid})\`)
})
`,
  'koa.cjs': `const Koa = require('koa')
const { withReload } = require('@reload/koa')
const app = new Koa()
app.use(async (ctx) => {
  console.log(\`request \${ctx.url} pid=\${process.pid}\`)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(ctx.query.sleep) || 0) * 1000))
  ctx.body = \`ospid:\${process.pid}\`
})
const server = withReload(app).listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(\`listening on http://127.0.0.1:\${server.address().port} (pid \${process.pid})\`)
})
`,
  // No reload code at all: for reload run, which preloads @reload/core/register into its workers.
  'plain.js': `import http from 'node:http'
const server = http.createServer((req, res) => {
  console.log(\`request \${req.url} pid=\${process.pid}\`)
  const sleep = new URL(req.url, 'http://x').searchParams.get('sleep')
  setTimeout(() => res.end(\`ospid:\${process.pid}\`), Math.max(0, Number(sleep) || 0) * 1000)
})
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(\`listening on http://127.0.0.1:\${server.address().port} (pid \${process.pid})\`)
})
`
}

// Strict TypeScript consumers, one per framework (and core, cli), each its own project: nodenext, strict,
// no skipLibCheck, so every .d.ts the packages ship is checked as a user's compiler checks it. `types:
// ['node']` as any Node.js project has it: TypeScript 6 and later no longer load every @types package.
const consumers = {
  core: `import http from 'node:http'
import { defaults, eventStream, reloader, ReloadError, trackWebSockets, type EventStream, type Reloader, type ReloadErrorCode, type ReloadOptions, type TrackedWebSocketServer, type UpgradeResult } from '@reload/core'
import '@reload/core/register'

const options: ReloadOptions = { drainTimeout: 10_000, idleGrace: 1000, goAwayWindow: 2000, signal: 'SIGHUP', logger: console }
const reload: Reloader = reloader(options)
const server = http.createServer((_req, res) => res.end(\`ospid:\${process.pid}\`))
const same: http.Server = reload.listen(server, 8080, '127.0.0.1', () => {})
const uninstall: () => void = reload.attach(http.createServer(), { optional: true })
reload.beforeExit(async () => {})
reload.on('drain', () => {})
const generation: number = reload.generation
const result: Promise<UpgradeResult> = reload.upgrade()
result.catch((err: unknown) => {
  if (err instanceof ReloadError) { const code: ReloadErrorCode = err.code; console.log(code) }
})
console.log(same, uninstall, generation, defaults)
http.createServer((req, res) => {
  const stream: EventStream = eventStream(req, res, { retry: 1000 })
  stream.send({ id: stream.lastEventId ?? 0, data: { ok: true } })
})
declare const wss: TrackedWebSocketServer
const untrack: () => void = trackWebSockets(wss, { closeTimeout: 1000 })
const cancel: () => void = reload.goingAway(() => {})
console.log(untrack, cancel)
`,
  express: `import express from 'express'
import http from 'node:http'
import { withReload, type ExpressReload, type ExpressReloadOptions } from '@reload/express'
import type { Reloader } from '@reload/core'

const app = express()
app.get('/', (req, res) => { res.send(\`ospid:\${process.pid} \${String(req.query.sleep)}\`) })
const options: ExpressReloadOptions = { drainTimeout: 10_000 }
const reload: ExpressReload = withReload(app, options)
const server: http.Server = reload.listen(8080, '127.0.0.1', (err?: Error) => { if (err) throw err })
const uninstall: () => void = reload.attach(http.createServer(app))
const reloader: Reloader = reload.reloader
reloader.beforeExit(() => {})
console.log(server, uninstall, withReload(app).listen({ port: 0, host: '127.0.0.1' }))
`,
  fastify: `import Fastify from 'fastify'
import reload, { reloadPlugin, serverFactory, type FastifyReloadOptions } from '@reload/fastify'
import type { Reloader } from '@reload/core'

const app = Fastify({ logger: true, serverFactory })
const options: FastifyReloadOptions = { drainTimeout: 10_000, autoReady: true }
await app.register(reloadPlugin, options)
app.get('/', async () => \`ospid:\${process.pid}\`)
app.addHook('onClose', async () => {})
const reloader: Reloader = app.reload
reloader.beforeExit(() => {})
await app.listen({ port: 8080 })
const other = Fastify()
await other.register(reload)
`,
  koa: `import Koa from 'koa'
import http from 'node:http'
import { attach, withReload, type KoaReload, type KoaReloadOptions } from '@reload/koa'

const app = new Koa()
app.use((ctx) => {
  const generation: number = ctx.reload.generation
  ctx.body = \`generation \${generation}, draining: \${String(ctx.reload.isDraining)}\`
})
const options: KoaReloadOptions = { drainTimeout: 10_000 }
const reload: KoaReload = withReload(app, options)
const server: http.Server = reload.listen(8080, '127.0.0.1', () => {})
const uninstall: () => void = attach(http.createServer(app.callback()))
console.log(server, uninstall, reload.reloader.state)
`,
  // A CommonJS TypeScript app (what the Nest CLI compiles to): require() of the ESM packages, typed.
  'cjs.cts': `import express = require('express')
import Koa = require('koa')
import { withReload } from '@reload/express'
import koaReload = require('@reload/koa')
import { reloadPlugin, serverFactory } from '@reload/fastify'
import { reloader } from '@reload/core'

const app = express()
withReload(app).listen(8080, '127.0.0.1', (err?: Error) => { if (err) throw err })
koaReload.withReload(new Koa()).listen(8081)
console.log(reloadPlugin, serverFactory, reloader().generation)
`,
  cli: `import { main, parseArgs, parseTime, type KeeperStatus } from '@reload/cli'

const status: KeeperStatus | undefined = undefined
const ms: number = parseTime('--drain-timeout', '30s')
console.log(status, ms, parseArgs(['run', '--listen', '8080', '--', 'node', 'server.js']))
const code: Promise<number | undefined> = main(['status'])
console.log(code)
`
}

// ---- processes ----

function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    }).on('error', reject)
  })
}

function isAlive (pid) {
  try { process.kill(pid, 0) } catch { return false }
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z' } catch { return false }
}

async function until (condition, what, timeout = 15_000) {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) fail(`timed out after ${timeout} ms waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A process whose output lines (stdout and stderr) the check waits on; pids it names are recorded. */
class Proc {
  constructor (command, args, env = {}) {
    this.lines = []
    this.waiters = new Set()
    // The caller's reload settings (an operator's timeouts, CI's report path) are not the consumer's.
    const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RELOAD|LISTEN)_/.test(name)))
    this.child = spawn(command, args, { cwd: app, env: { ...base, NODE_NO_WARNINGS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(this.child)
    pids.add(this.child.pid)
    this.exit = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })))
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = ''
      stream.on('data', (chunk) => {
        const parts = (partial + chunk).split('\n')
        partial = parts.pop()
        for (const text of parts) this.#add(text)
      })
    }
  }

  #add (text) {
    this.lines.push(text)
    for (const match of text.matchAll(/(?:\bpid[= ]|^reload\[|\bworker=|\bworkers=|\bchild=|\bparent=)(\d+)/g)) pids.add(Number(match[1]))
    if (process.env.CONSUMER_CHECK_ECHO) console.log(`      | ${text}`)
    for (const wake of this.waiters) wake()
  }

  get output () { return this.lines.map((line) => `      | ${line}`).join('\n') }

  async waitFor (pattern, timeout = 15_000) {
    const deadline = Date.now() + timeout
    for (;;) {
      for (const text of this.lines) {
        const match = text.match(pattern)
        if (match) return match
      }
      const left = deadline - Date.now()
      if (left <= 0) fail(`timed out after ${timeout} ms waiting for ${pattern}; output:\n${this.output}`)
      await new Promise((resolve) => {
        const done = () => { clearTimeout(timer); this.waiters.delete(done); resolve() }
        const timer = setTimeout(done, left)
        this.waiters.add(done)
      })
    }
  }
}

function get (url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body, connection: res.headers.connection }))
    })
    req.setTimeout(15_000, () => req.destroy(new Error('no answer in 15 s')))
    req.on('error', (err) => reject(new Error(`GET ${url} failed: ${err.code ?? err.message}`)))
  })
}

let marks = 0
/** GET `url` and wait until the server has it (its `request … pid=` line); returns the pid and the response. */
async function inFlight (proc, url) {
  const mark = `mark=${++marks}`
  const response = get(`${url}&${mark}`)
  response.catch(() => {})
  const match = await proc.waitFor(new RegExp(`^request \\S*[?&]${mark}(?:&\\S*)? pid=(\\d+)$`))
  return { pid: Number(match[1]), response }
}

async function stop (pid) {
  if (!isAlive(pid)) return
  try { process.kill(pid, 'SIGTERM') } catch {}
  try { await until(() => !isAlive(pid), `pid ${pid} is gone after SIGTERM`, 10_000) } catch {
    try { process.kill(pid, 'SIGKILL') } catch {}
    await until(() => !isAlive(pid), `pid ${pid} is gone after SIGKILL`, 5000).catch(() => {})
  }
}

// ---- the checks ----

/** The seed demo through an adapter: slow request on the old pid, new request on the new pid, old pid exits. */
async function demo (file) {
  console.log(`- demo: node ${file} (GET /?sleep=s answers ospid:<pid>; kill -HUP)`)
  const proc = new Proc(process.execPath, [file], { PORT: '0' })
  try {
    const [, url] = await proc.waitFor(/listening on (http:\/\/\S+)/)
    const old = proc.child.pid
    await proc.waitFor(new RegExp(`^reload\\[${old}\\]: generation 1 ready \\(`))
    const first = await get(`${url}/?sleep=0`)
    expect(first.body === `ospid:${old}`, `${file}: generation 1 answers ospid:${old}`, JSON.stringify(first))
    const slow = await inFlight(proc, `${url}/?sleep=1.5`)
    expect(slow.pid === old, `${file}: the slow request is in flight on pid ${old}`)
    process.kill(old, 'SIGHUP')
    const next = Number((await proc.waitFor(/^reload\[(\d+)\]: generation 2 ready \(/))[1])
    // Until the old generation logs `draining`, a new connection may still land on it.
    await proc.waitFor(new RegExp(`^reload\\[${old}\\]: draining`))
    const fresh = await get(`${url}/?sleep=0`)
    expect(next !== old && fresh.body === `ospid:${next}`, `${file}: after kill -HUP ${old}, a new request answers ospid:${next}`, JSON.stringify(fresh))
    const done = await slow.response
    expect(done.status === 200 && done.body === `ospid:${old}`, `${file}: the slow request finishes on the old pid ${old}`, JSON.stringify(done))
    const exit = await Promise.race([proc.exit, new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000))])
    expect(exit !== 'still running' && exit.code === 0, `${file}: the old pid ${old} exits 0`, `${JSON.stringify(exit)}\n${proc.output}`)
    await stop(next)
    expect(!isAlive(next), `${file}: generation 2 (pid ${next}) drains and exits on SIGTERM`)
  } catch (err) {
    err.message += `\n    output of ${file}:\n${proc.output}`
    throw err
  }
}

/** `reload run` from the tarball of @reload/cli, on a server with no reload code. */
async function keeper () {
  console.log('- reload run: node_modules/.bin/reload run --listen 127.0.0.1:<port> -- node plain.js; reload reload --wait')
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const bin = join(app, 'node_modules/.bin/reload')
  const proc = new Proc(bin, ['run', '--listen', `127.0.0.1:${port}`, '--', process.execPath, 'plain.js'], { PORT: String(port) })
  try {
    const keeperPid = proc.child.pid
    const worker = Number((await proc.waitFor(/worker ready on \S+ \(.*workers=(\d+)/))[1])
    const first = await get(`${url}/?sleep=0`)
    expect(first.body === `ospid:${worker}`, `reload run: worker ${worker} answers`, JSON.stringify(first))
    const slow = await inFlight(proc, `${url}/?sleep=1.5`)
    expect(slow.pid === worker, `reload run: the slow request is in flight on worker ${worker}`)
    const { stdout, stderr } = await run(bin, ['reload', '--wait', '--pid', String(keeperPid), '--timeout', '30s'], { cwd: app })
    const serves = `${stdout}${stderr}`.match(/generation 2 serves \(pids ([\d, ]+)\)/)
    expect(serves !== null, 'reload run: `reload reload --wait` exits 0 once generation 2 serves', `${stdout}${stderr}`)
    const next = Number(serves[1].split(',')[0])
    pids.add(next)
    const fresh = await get(`${url}/?sleep=0`)
    expect(next !== worker && fresh.body === `ospid:${next}`, `reload run: a new request answers the new worker ${next}`, JSON.stringify(fresh))
    const done = await slow.response
    expect(done.status === 200 && done.body === `ospid:${worker}`, `reload run: the slow request finishes on the old worker ${worker}`, JSON.stringify(done))
    await until(() => !isAlive(worker), `the old worker ${worker} exits`)
    ok(`reload run: the old worker ${worker} exits`)
    process.kill(keeperPid, 'SIGTERM')
    const exit = await Promise.race([proc.exit, new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000))])
    expect(exit !== 'still running' && exit.code === 0, `reload run: the keeper (pid ${keeperPid}) drains and exits 0 on SIGTERM`, JSON.stringify(exit))
    await until(() => !isAlive(next), `worker ${next} exits with its keeper`, 10_000)
    ok(`reload run: worker ${next} exits with its keeper`)
  } catch (err) {
    err.message += `\n    output of reload run:\n${proc.output}`
    throw err
  }
}

/** Every file a package lists and every source map's sources are in the installed package. */
function checkInstalled (name) {
  const dir = join(app, 'node_modules', '@reload', name)
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const text = JSON.stringify(manifest)
  expect(!text.includes('workspace:'), `@reload/${name}: package.json has no workspace: ranges`, text.match(/"[^"]*":"workspace:[^"]*"/)?.[0])
  expect(!text.includes('example.invalid'), `@reload/${name}: package.json has no placeholder URL`)
  expect(existsSync(join(dir, 'LICENSE')) && /Copyright \(c\) 2026 the reload authors/.test(readFileSync(join(dir, 'LICENSE'), 'utf8')),
    `@reload/${name}: ships LICENSE (MIT, 2026 the reload authors)`)
  expect(existsSync(join(dir, 'README.md')), `@reload/${name}: ships README.md`)
  const readme = readFileSync(join(dir, 'README.md'), 'utf8')
  const links = [...readme.matchAll(/\]\((?!https?:|#|mailto:)([^)]+)\)/g)].map((m) => m[1])
  expect(links.length === 0, `@reload/${name}: README has no relative links (they break on the registry's page)`, links.join(', '))
  const nested = join(dir, 'node_modules', '@reload')
  expect(!existsSync(nested), `@reload/${name}: uses the installed tarball of @reload/core, not a copy from the registry`, readdirSync(dir).join(','))
  let maps = 0
  const missing = []
  const walk = (folder) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name)
      if (entry.isDirectory()) { if (entry.name !== 'node_modules') walk(path); continue }
      if (!entry.name.endsWith('.map')) continue
      maps++
      const map = JSON.parse(readFileSync(path, 'utf8'))
      for (const source of map.sources) {
        const file = resolve(dirname(path), map.sourceRoot ?? '', source)
        if (!existsSync(file)) missing.push(`${relative(dir, path)} -> ${source}`)
      }
    }
  }
  walk(dir)
  expect(maps > 0 && missing.length === 0, `@reload/${name}: all ${maps} source maps resolve to shipped sources`, missing.slice(0, 5).join(', '))
}

async function main () {
  console.log(`consumer check: the packed packages, installed with npm in ${work}`)
  mkdirSync(packs)
  mkdirSync(app)

  console.log('- pnpm pack (prepack builds each package)')
  const pnpm = ['-y', 'pnpm@12.4.2']
  for (const name of packages) {
    await run('npx', [...pnpm, 'pack', '--pack-destination', packs], { cwd: join(root, 'packages', name) })
  }
  const tarballs = readdirSync(packs).filter((file) => file.endsWith('.tgz')).map((file) => join(packs, file))
  expect(tarballs.length === packages.length, `packed ${tarballs.length} tarballs`, readdirSync(packs).join(', '))
  for (const tarball of tarballs) {
    const { stdout } = await run('tar', ['-tzf', tarball])
    const files = stdout.split('\n').filter(Boolean)
    expect(files.includes('package/dist/index.js') && files.includes('package/dist/index.d.ts') && files.includes('package/LICENSE'),
      `${relative(packs, tarball)}: ${files.length} files, with dist/index.js, dist/index.d.ts, LICENSE`)
    // The preload's two files (scripts/bundle.mjs, run by core's prepack): without the second, a worker's
    // first listen() takes the reloader's ES modules one by one.
    if (files.includes('package/dist/register.js')) {
      expect(files.includes('package/dist/generation/reloader.cjs') && files.includes('package/dist/register.cjs'),
        `${relative(packs, tarball)}: with the preload's bundle, dist/generation/reloader.cjs, and its CommonJS entry, dist/register.cjs`)
    }
  }

  console.log(`- npm install of the tarballs and the frameworks from the registry (${seconds()})`)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'reload-consumer', private: true, type: 'module' }, null, 2))
  // npm, not the pnpm of the workspace: npm_config_* that a pnpm script may have set are pnpm's, not npm's.
  const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs,
    'fastify', 'express', 'koa', '@types/node', '@types/express', '@types/koa', 'typescript'], { cwd: app, env: npmEnv, timeout: 150_000 })
  const versions = (name) => JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')).version
  ok(`installed in ${seconds()}: fastify ${versions('fastify')}, express ${versions('express')}, koa ${versions('koa')}, typescript ${versions('typescript')}`)
  for (const name of packages) checkInstalled(name)

  console.log('- strict TypeScript consumers (module nodenext, strict, no skipLibCheck)')
  const base = { compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] } }
  // Not ours: with Express 5.3 in the same folder, npm hoists content-disposition 2 (types of its own, no
  // `Options`), and @types/koa, written against @types/content-disposition, fails without skipLibCheck. A
  // Koa-only project gets content-disposition 1 and @types/content-disposition; point the Koa consumer there.
  const koaTypes = { paths: { 'content-disposition': ['./node_modules/@types/content-disposition'] } }
  const extra = { koa: koaTypes, 'cjs.cts': koaTypes }
  for (const [name, source] of Object.entries(consumers)) {
    const file = `consumer-${name.includes('.') ? name : `${name}.ts`}`
    writeFileSync(join(app, file), source)
    const config = { ...base, compilerOptions: { ...base.compilerOptions, ...extra[name] }, files: [file] }
    writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify(config, null, 2))
    await run(join(app, 'node_modules/.bin/tsc'), ['-p', `tsconfig.${name}.json`], { cwd: app })
    ok(`${file} type-checks`)
  }

  console.log('- the seed demo from the installed packages')
  for (const [file, source] of Object.entries(servers)) writeFileSync(join(app, file), source)
  for (const file of ['core.js', 'express.js', 'express.cjs', 'fastify.js', 'fastify.cjs', 'koa.js', 'koa.cjs']) await demo(file)
  await keeper()
}

async function cleanup () {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
  await until(() => [...pids].every((pid) => !isAlive(pid)), 'every process started is gone', 5000).catch((err) => console.log(`warning: ${err.message}`))
  for (const child of children) { child.stdout?.destroy(); child.stderr?.destroy() }
  if (process.env.KEEP) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}

// Stopped from outside (CI's timeout, Ctrl-C): still kill what was started and remove the folder.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    console.log(`\nconsumer check FAILED: ${signal} after ${checks} checks (${seconds()})`)
    cleanup().finally(() => process.exit(1))
  })
}

let code = 0
try {
  await main()
  console.log(`consumer check passed: ${checks} checks in ${seconds()}`)
} catch (err) {
  code = 1
  console.log(`\nconsumer check FAILED after ${checks} checks (${seconds()}):\n  ${err.message}`)
} finally {
  await cleanup()
}
process.exit(code)
