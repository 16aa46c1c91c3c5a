import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, isAlive, listensOn, portBelowEphemeralRange, startProcess, tempDir, until } from '@reload/test-helpers'
import { reloadBin } from './helpers.js'

afterEach(closeAll)

describe('reload run: a command that starts the server as its child (npm start)', () => {
  it('fails fast with what to run instead, and leaves nothing running or listening', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'wrapped', private: true, type: 'module', scripts: { start: 'node server.js' } }))
    writeFileSync(join(dir, 'server.js'), [
      "import http from 'node:http'",
      "http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('server pid=' + process.pid))"
    ].join('\n'))
    // The server's own port: not the keeper's, which npm does not pass on.
    const port = await portBelowEphemeralRange()
    const started = Date.now()
    const keeper = startProcess(reloadBin, { cwd: dir, args: ['run', '--listen', '127.0.0.1:0', '--', 'npm', 'start'], env: { PORT: String(port) } })
    const { code } = await keeper.exited(20_000)
    const ms = Date.now() - started
    expect(code).toBe(1)
    // Well within the default --ready-timeout (60 s) it would otherwise wait.
    expect(ms).toBeLessThan(15_000)
    const server = Number(/server pid=(\d+)/.exec(keeper.output)?.[1])
    expect(keeper.output).toMatch(new RegExp(`reload\\[${server}\\]: error: this server was started by npm \\(pid \\d+\\), which reload run \\(keeper pid ${keeper.child.pid}\\) started as its worker; .* run \`node server.js\` directly`))
    expect(keeper.output).toMatch(/the first workers did not start: worker 1 .* exited with code 1 before it was ready/)
    await until(() => !isAlive(server) && !listensOn(port), `pid ${server} gone and port ${port} free`)
  })
})
