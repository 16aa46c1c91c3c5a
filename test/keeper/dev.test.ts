import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, Fixture, get, isAlive, Load, root, tempDir } from '@reload/test-helpers'
import { nextReady, source, startDev, version, waitingWorker } from './dev-helpers.js'
import { plainApp, reloadBin } from './helpers.js'

afterEach(closeAll)

describe('reload dev', () => {
  it('a save hands over to the new code; the old pid finishes and exits', async () => {
    const dev = await startDev()
    const first = (await get(dev.url)).pid as number
    const from = dev.fixture.lines.length
    dev.edit(version('2'))
    const next = await nextReady(dev, from)
    expect(dev.fixture.lines.slice(from).map((l) => l.text).join('\n')).toMatch(/↻ server\.js changed/)
    const answer = await get(dev.url)
    expect(answer.pid).toBe(next)
    expect(answer.body).toMatch(/version=2$/)
    await dev.fixture.gone(first)
    // Piped output has no colour.
    expect(dev.fixture.output).not.toContain('\u001b[')
  })

  it('a syntax error leaves the old code serving and says so once; the fix is served', async () => {
    const dev = await startDev()
    const first = (await get(dev.url)).pid as number
    const from = dev.fixture.lines.length
    dev.edit(`${source}\nsyntax error(\n`)
    const { index } = await dev.fixture.waitFor(/the old code keeps serving \(pid \d+\); save again to retry/, { from })
    const said = dev.fixture.lines.slice(from, index + 1).map((l) => l.text).join('\n')
    expect(said).toMatch(/SyntaxError/)
    expect(said.match(/✗ worker 1 \(generation \d+\) \(pid \d+\) exited with code 1 before it was ready/g)).toHaveLength(1)
    expect((await get(dev.url)).pid).toBe(first)
    expect(isAlive(first)).toBe(true)
    const fixed = dev.fixture.lines.length
    dev.edit(version('fixed'))
    const next = await nextReady(dev, fixed)
    expect((await get(dev.url)).body).toBe(`ospid:${next} version=fixed`)
  })

  it('20 quick saves under keep-alive load: 0 failed requests, and the last code answers', async () => {
    const dev = await startDev()
    const load = new Load(dev.url, { connections: 6, slowEvery: 4, slow: 0.05 }).start()
    await load.until((o) => o.length >= 20, '20 responses')
    for (let i = 1; i <= 20; i++) {
      dev.edit(version(String(i)))
      // Saves come faster than reloads: some are merged into the next one.
      await load.until((o) => o.length >= 20 + i * 10, `${20 + i * 10} responses`)
    }
    await load.until((o) => o.some((x) => x.body?.endsWith('version=20') === true), 'an answer from the last save', 20_000)
    const outcomes = await load.stop()
    expect(load.failures).toEqual([])
    expect(outcomes.length).toBeGreaterThan(200)
    expect((await get(dev.url)).body).toMatch(/version=20$/)
  })

  it('ignores node_modules, dot-folders, build output, logs and --ignore globs', async () => {
    const dev = await startDev(['--ignore', 'data/**', '--ignore', '*.tmp'])
    for (const folder of ['node_modules/pkg', '.git', 'dist', 'data/deep']) mkdirSync(join(dev.dir, folder), { recursive: true })
    // A marker change after the ignored ones: its reload must be the only one.
    const from = dev.fixture.lines.length
    for (const file of ['node_modules/pkg/index.js', '.git/HEAD', 'dist/app.js', 'data/deep/x.json', 'app.log', 'notes.tmp']) writeFileSync(join(dev.dir, file), 'x')
    // Written whole by a rename (one event): a create and a write that a busy machine parts by more than the
    // quiet time are two saves, a second reload this test is not about.
    writeFileSync(join(dev.dir, 'marker.tmp'), '// a source file')
    renameSync(join(dev.dir, 'marker.tmp'), join(dev.dir, 'marker.js'))
    await nextReady(dev, from)
    const said = dev.fixture.lines.slice(from).map((l) => l.text).filter((t) => t.includes('↻'))
    expect(said).toEqual(['[reload] ↻ marker.js changed'])
  })

  it('runs TypeScript through node --import tsx', async () => {
    const dev = await startDev([], {
      file: 'server.ts',
      source: version('ts').replace("let behaviour = 'ok'", "let behaviour: string = 'ok'"),
      command: [process.execPath, '--import', pathToFileURL(join(root, 'test/fixtures/node_modules/tsx/dist/loader.mjs')).href, 'server.ts']
    })
    expect((await get(dev.url)).body).toMatch(/version=ts$/)
    const from = dev.fixture.lines.length
    dev.edit(version('ts2').replace("let behaviour = 'ok'", "let behaviour: string = 'ok'"))
    const next = await nextReady(dev, from)
    expect((await get(dev.url)).body).toBe(`ospid:${next} version=ts2`)
  })

  // Node 20 has no type stripping; 22.18+ and 23.6+ strip types by default.
  const strips = (process.features as { typescript?: string | false }).typescript !== undefined && (process.features as { typescript?: string | false }).typescript !== false
  it.runIf(strips)('runs TypeScript with Node\'s own type stripping (where Node has it on by default)', async () => {
    const dev = await startDev([], { file: 'server.ts', source: version('strip').replace("let behaviour = 'ok'", "let behaviour: string = 'ok'"), command: [process.execPath, 'server.ts'] })
    expect((await get(dev.url)).body).toMatch(/version=strip$/)
  })

  it('rs and Enter reloads, with a worker started then (not the one that waited, booted before)', async () => {
    const dir = tempDir()
    copyFileSync(plainApp, join(dir, 'server.js'))
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RELOAD|LISTEN)_/.test(name)))
    const child = spawn(process.execPath, [reloadBin, 'dev', '--listen', '127.0.0.1:0', '--', process.execPath, 'server.js'],
      { cwd: dir, env: { ...env, PWD: dir, HOST: '127.0.0.1', PORT: '0' }, stdio: ['pipe', 'pipe', 'pipe'] })
    const fixture = new Fixture(child)
    try {
      const { match } = await fixture.waitFor(/✓ ready in \d+ ms \(pid (\d+)\)/)
      const waiting = await waitingWorker(fixture)
      const from = fixture.lines.length
      child.stdin.write('rs\n')
      await fixture.waitFor(/↻ rs/, { from })
      const { match: next } = await fixture.waitFor(/✓ ready in \d+ ms \(pid (\d+)\)/, { from })
      expect(next[1]).not.toBe(match[1])
      expect(Number(next[1])).not.toBe(waiting)
      await fixture.gone(waiting)
    } finally {
      await fixture.close()
    }
  })
})
