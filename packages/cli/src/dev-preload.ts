// `reload dev`'s first preload in each worker (NODE_OPTIONS, before @reload/core's): the next worker is started
// once the last one is ready, boots Node and loads the preloads while the developer types, and waits here
// for the save to load the app. Node runs the app's entry only once every --import has finished, so a
// top-level await holds it. Booting Node and loading a loader such as tsx is most of a worker's start; what is
// left after the save is the app's own.
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { resolvePackage } from './dev-resolve.js'
import { nodeOptionsWords } from './node-options.js'

const self = import.meta.url
const spare = process.env.RELOAD_DEV_SPARE
// Read before @reload/core's preload takes the protocol's variables out of the environment.
const generation = process.env.RELOAD_GENERATION
const given = process.env.NODE_OPTIONS ?? ''
const cwd = process.cwd()

// Only this process waits: the app's own children, and a wrapper's server, start at once. Only this option
// leaves NODE_OPTIONS: the others stay as written (quotes, spaces).
Reflect.deleteProperty(process.env, 'RELOAD_DEV_SPARE')
const rest = given.replace(`--import=${self}`, '').trim()
if (rest === '') Reflect.deleteProperty(process.env, 'NODE_OPTIONS')
else process.env.NODE_OPTIONS = rest

/** The words of NODE_OPTIONS after this preload, then the command line's options: what Node runs next, in order. */
function optionsAfter (): string[] {
  const words = nodeOptionsWords(given)
  return [...words.slice(words.findIndex((w) => w.replace(/^--import=/, '') === self) + 1), ...process.execArgv]
}

/** The values of option `name` (`--name=value` or `--name value`) among `words`. */
function valuesOf (words: string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string
    if (word === name) values.push(words[++i] ?? '')
    else if (word.startsWith(`${name}=`)) values.push(word.slice(name.length + 1))
  }
  return values
}

// Whether `file` is the preload of @reload/core (the app's own, or the keeper's), either entry (register.cjs
// is require()'s, register.js import's): resolved from itself.
function isRegister (file: string): boolean {
  if (!/^register\.c?js$/.test(basename(file))) return false
  try { return dirname(createRequire(file).resolve('@reload/core/register')) === dirname(file) } catch { return false }
}

/**
 * The `--import`s Node runs after this one that may run before the save, as URLs, in order, up to the first
 * that may not: @reload/core's preload, and packages (tsx, a tracer), which no save changes. The app's own
 * files (`--import ./instrument.js`) load after the save, and so does everything after them.
 */
function importsBeforeSave (): string[] {
  const base = pathToFileURL(`${cwd}/`)
  const urls: string[] = []
  // Conditions of the user's own make a package resolve otherwise than resolvePackage() knows.
  const conditions = [...nodeOptionsWords(given), ...process.execArgv].some((w) => /^(-C|--conditions)(=|$)/.test(w))
  for (const specifier of valuesOf(optionsAfter(), '--import')) {
    // As Node's resolver reads a path (relative to the working folder), so the module is the one Node runs.
    const isPath = /^(file:|\/|\.\.?\/)/.test(specifier)
    const file = isPath ? fileURLToPath(new URL(specifier, base)) : conditions ? undefined : resolvePackage(specifier, cwd)
    if (file === undefined || !(file.includes('/node_modules/') || isRegister(file))) break
    urls.push(pathToFileURL(file).href)
  }
  return urls
}

// @reload/core's preload makes the process's reloader at the app's first listen(): loading it, and its first
// step, reading what the inherited fds are from /proc/net, took 20 to 40 ms of a save on a busy 2-core
// machine. Made now, from the same package, it costs the wait rather than the save. Options the app gives
// reloader() later are merged, as before any server is attached.
async function prepareReloader (url: string): Promise<void> {
  const file = fileURLToPath(url)
  if (!isRegister(file)) return
  const core = await import(pathToFileURL(createRequire(file).resolve('@reload/core')).href) as { reloader?: () => unknown }
  core.reloader?.()
}

/**
 * The project's files this process may have read before the save, which a later save may have changed: the
 * `--env-file`s, the modules `--require` loaded (not packages), and the working folder's `.env*` files, which
 * `--require dotenv/config` reads.
 */
function filesRead (): string[] {
  const words = optionsAfter()
  const envFiles = [...valuesOf(words, '--env-file'), ...valuesOf(words, '--env-file-if-exists')].map((f) => resolve(cwd, f))
  const required = Object.keys(createRequire(self).cache).filter((f) => isAbsolute(f) && !f.includes('/node_modules/'))
  let dotenv: string[] = []
  try { dotenv = readdirSync(cwd).filter((name) => name.startsWith('.env')).map((name) => join(cwd, name)) } catch {}
  return [...new Set([...envFiles, ...required, ...dotenv])]
}

// A line to the `reload dev` that started this worker: it answers `go` on the save. Exits when `reload dev` is
// gone (killed while this worker booted: nobody would stop the app), or lets this worker go, before the save.
function waitForSave (path: string): Promise<void> {
  return new Promise((resolve) => {
    let heard = ''
    let going = false
    const socket = connect(path)
    socket.setEncoding('utf8')
    socket.on('connect', () => {
      socket.write(`${JSON.stringify({ pid: process.pid, generation: Number(generation), files: filesRead() })}\n`)
    })
    socket.on('data', (chunk: string) => {
      heard += chunk
      if (going || !heard.split('\n').includes('go')) return
      going = true
      socket.destroy()
      resolve()
    })
    socket.on('error', () => {})
    socket.on('close', () => { if (!going) process.exit(0) })
  })
}

if (spare !== undefined && generation !== undefined) {
  for (const url of importsBeforeSave()) {
    await import(url)
    await prepareReloader(url)
  }
  await waitForSave(spare)
}
