// What the `reload dev` tests share: starting it on a copy of the plain app, its lines, and the worker it keeps
// waiting for the next save.
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startProcess, tempDir, until, type Fixture } from '@reload/test-helpers'
import { plainApp, reloadBin } from './helpers.js'

export interface Dev { fixture: Fixture, url: string, dir: string, app: string, edit: (text: string) => void }

/** `reload dev --listen 127.0.0.1:0 -- node server.js` in a folder of its own, with a copy of the plain app (and `files`, and symbolic `links`). */
export async function startDev (flags: string[] = [], { command, file = 'server.js', source = readFileSync(plainApp, 'utf8'), env = {}, files = {}, links = {} }: { command?: string[], file?: string, source?: string, env?: Record<string, string>, files?: Record<string, string>, links?: Record<string, string> } = {}): Promise<Dev> {
  const dir = tempDir()
  const app = join(dir, file)
  writeFileSync(app, source)
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(dir, name))
  const fixture = startProcess(reloadBin, {
    args: ['dev', '--listen', '127.0.0.1:0', ...flags, '--', ...(command ?? [process.execPath, file])],
    cwd: dir,
    env: { PWD: dir, HOST: '127.0.0.1', PORT: '0', ...env }
  })
  const { match } = await fixture.waitFor(/listening on 127\.0\.0\.1:(\d+)/)
  await fixture.waitFor(/✓ ready in \d+ ms \(pid \d+\)/)
  return { fixture, url: `http://127.0.0.1:${match[1] as string}`, dir, app, edit: (text) => writeFileSync(app, text) }
}

/** Waits for the next `✓ ready` line after `from`; returns the new pid. */
export async function nextReady (dev: Dev, from: number, timeout = 15_000): Promise<number> {
  const { match } = await dev.fixture.waitFor(/✓ ready in \d+ ms \(pid (\d+)\)/, { from, timeout })
  return Number(match[1])
}

export const source = readFileSync(plainApp, 'utf8')
// The answer's text in plain-app.js is a template literal; the copy adds a version to it, and says when it loads.
const answer = ['`ospid:', '$', '{process.pid}'].join('')
export const version = (v: string): string =>
  `console.log(\`loaded version=${v} pid=\${process.pid}\`)\n${source.replace(answer, `${answer} version=${v}`)}`

/** The children of `pid` now, from /proc. */
export function childrenOf (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/**
 * The worker `reload dev` keeps waiting for the next save: its child that has never served (draining ones
 * have). Waits for it (the keeper starts it once the serving one is ready), and adds it to the fixture's pids,
 * so that the test kills it.
 */
export async function waitingWorker (fixture: Fixture): Promise<number> {
  const keeper = fixture.child.pid as number
  let waiting: number | undefined
  await until(() => {
    const served = new Set(fixture.lines.flatMap(({ text }) => [...text.matchAll(/✓ ready in \d+ ms \(pid (\d+)\)/g)].map((m) => Number(m[1]))))
    waiting = childrenOf(keeper).find((pid) => !served.has(pid))
    return waiting !== undefined
  }, () => `reload dev (pid ${keeper}) starts a worker for the next save; output:\n${fixture.output}`)
  fixture.pids.add(waiting as number)
  return waiting as number
}
