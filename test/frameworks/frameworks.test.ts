// The production servers of popular frameworks under `reload run --workers 2`, with no reload code and
// no framework setting: 4 rolls under 16 keep-alive loops with 0 failed requests, 2 worker SIGKILLs with
// 0 refused (each replaced from the keeper's spare), a clean shutdown that leaves no process behind, and no
// stack trace anywhere in the output.
// The registry apps are installed and built by setup.ts.
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, isAlive, Load, root, until } from '@reload/test-helpers'
import { childrenOf } from '../keeper/dev-helpers.js'
import { answeredBy, cli } from '../keeper/helpers.js'
import { runKeeper, serving } from './helpers.js'

afterEach(closeAll)

const apps = join(root, 'test/frameworks/apps')
const fixtures = join(root, 'test/fixtures')

const frameworks = [
  { name: 'Next.js 16, next start', cwd: join(apps, 'next'), command: ['node_modules/.bin/next', 'start'] },
  { name: 'Next.js 16, standalone server.js', cwd: join(apps, 'next'), command: ['node', '.next/standalone/server.js'] },
  { name: 'SvelteKit 2, adapter-node', cwd: join(apps, 'sveltekit'), command: ['node', 'build/index.js'] },
  { name: 'Nitro 2, node-server preset', cwd: join(apps, 'nitro'), command: ['node', '.output/server/index.mjs'] },
  { name: 'Hono 4, @hono/node-server', cwd: join(apps, 'hono'), command: ['node', 'server.js'] },
  { name: 'Express 5, no adapter', cwd: fixtures, command: ['node', 'plain-express.js'] },
  { name: 'Fastify 5, no adapter', cwd: fixtures, command: ['node', 'plain-fastify.js'] },
  { name: 'Koa 3, no adapter', cwd: fixtures, command: ['node', 'plain-koa.js'] }
]

// A line of a stack trace, from any process of the run.
const stackLine = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m

describe.each(frameworks)('$name under reload run --workers 2', ({ cwd, command }) => {
  it('4 rolls under keep-alive load: 0 failed; 2 worker SIGKILLs, each replaced from the spare: 0 refused; shutdown: exit 0, nothing left, no stack trace', async () => {
    const { keeper, port, control } = await runKeeper(cwd, ['--workers', '2'], command, { NEXT_TELEMETRY_DISABLED: '1' })
    await keeper.waitFor(/2 workers ready on/, { timeout: 60_000 })
    const url = `http://127.0.0.1:${port}`
    const load = new Load(url, { connections: 16 }).start()
    const seen = new Set<number>(serving(keeper.output))
    // The kernel, not reload, decides which worker accepts a connection: wait for answers from either.
    const servedByAny = async (pids: number[]): Promise<void> => {
      const from = load.outcomes.length
      await load.until((o) => o.slice(from).filter((r) => r.pid !== undefined && pids.includes(r.pid)).length >= 20, `20 responses from pid ${pids.join(' or ')}`)
    }
    await servedByAny(serving(keeper.output))
    for (let roll = 1; roll <= 4; roll++) {
      const { code, stdout, stderr } = await cli(['reload', '--wait', '--control', control], { timeout: 60_000 })
      expect(code, stdout + stderr).toBe(0)
      const now = serving(keeper.output)
      for (const pid of now) seen.add(pid)
      await servedByAny(now)
    }
    const rolled = load.outcomes.length
    expect(load.failures).toEqual([])
    // Each killed worker is replaced from the keeper's spare: the framework's server boots held, then runs.
    let spareFrom = keeper.lines.findIndex((l) => l.text.includes('generation 5 serves'))
    for (const kill of [1, 2]) {
      const { match: spare, index } = await keeper.waitFor(/spare ready \(pid (\d+)\).*generation=5\)/, { from: spareFrom, timeout: 30_000 })
      spareFrom = index + 1
      seen.add(Number(spare[1]))
      const victim = serving(keeper.output)[kill - 1] as number
      const before = keeper.lines.length
      process.kill(victim, 'SIGKILL')
      await keeper.waitFor(new RegExp(`worker ${kill} starts from the spare \\(pid ${spare[1]}\\)`), { from: before, timeout: 30_000 })
      const { match } = await keeper.waitFor(new RegExp(`worker ${kill} serves again \\(worker=(\\d+)`), { from: before, timeout: 30_000 })
      expect(Number(match[1])).toBe(Number(spare[1]))
      seen.add(victim)
      const next = Number(match[1])
      seen.add(next)
      await answeredBy(url, [next], 20_000)
    }
    const outcomes = await load.stop()
    const refused = outcomes.filter((o) => o.error === 'ECONNREFUSED')
    expect(refused).toEqual([])
    // What a killed worker had in flight dies with it: at most one request per connection of the load.
    expect(outcomes.slice(rolled).filter((o) => o.error !== undefined || o.status !== 200).length).toBeLessThanOrEqual(2 * 16)
    // The spare too, and one still booting: every process of the keeper's.
    for (const pid of childrenOf(keeper.child.pid as number)) seen.add(pid)
    process.kill(keeper.child.pid as number, 'SIGTERM')
    const { code } = await keeper.exited(30_000)
    expect(code, keeper.output).toBe(0)
    await until(() => [...seen].every((pid) => !isAlive(pid)), 'every worker gone', { timeout: 10_000 })
    expect(keeper.output).not.toMatch(stackLine)
    expect(keeper.output).not.toMatch(/ERR_SERVER_NOT_RUNNING|exited with code \d+ before draining/)
    const killed = outcomes.slice(rolled)
    process.stdout.write(`${command.join(' ')}: ${rolled} requests across 4 rolls, 0 failed; ${killed.length} across 2 SIGKILLs, ` +
      `${killed.filter((o) => o.error !== undefined || o.status !== 200).length} failed in flight, ${refused.length} refused; ${seen.size} worker pids, none left\n`)
  })
})
