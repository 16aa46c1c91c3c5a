// A first generation started under a wrapper that neither passes its sockets on nor outlives a handover
// (npm, pnpm, yarn running a script; tsx; nodemon) warns once at start, with the fix.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { get, which } from '@reload/test-helpers'
import { appDir, cleanUp, listening, modules, place, run } from './helpers.js'

afterEach(cleanUp)

const wrapperWarning = /^reload\[(\d+)\]: warn: started by (\w+) \((.*)\), which waits for this process and exits with it: .* \(parent=(\d+)\)$/

function npmApp (): string {
  const dir = appDir()
  place('server.js', dir)
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'app', private: true, type: 'module', scripts: { start: 'node server.js' } })}\n`)
  return dir
}

describe('wrappers', () => {
  it('`npm run start` warns once at start, naming npm and the fix', async (ctx) => {
    const npm = which('npm')
    if (npm === undefined) ctx.skip()
    const fixture = run(npm as string, ['run', 'start', '--silent'], { cwd: npmApp() })
    const url = await listening(fixture)
    const pid = await fixture.ready(1)
    expect((await get(url)).pid).toBe(pid)
    const { match } = await fixture.waitFor(wrapperWarning)
    expect(match[1]).toBe(String(pid))
    expect(match[2]).toBe('npm')
    expect(match[0]).toContain('run `node server.js` directly, or put `reload run -- node server.js` in the package script')
    // npm ran the script through `sh -c`: the warning names npm itself.
    expect(Number(match[4])).toBe(fixture.child.pid)
    expect(fixture.lines.filter((l) => wrapperWarning.test(l.text))).toHaveLength(1)
  })

  it('tsx server.ts warns, pointing at node --import tsx', async () => {
    const dir = appDir()
    place('server.ts', dir)
    const fixture = run(join(modules, '.bin/tsx'), ['server.ts'], { cwd: dir })
    await fixture.ready(1, 30_000)
    const { match } = await fixture.waitFor(wrapperWarning)
    expect(match[2]).toBe('tsx')
    expect(match[0]).toContain('run `node --import tsx server.ts`')
  })

  it('no warning under a reload run keeper (RELOAD_KEEPER inherited), nor for node started directly', async (ctx) => {
    const npm = which('npm')
    if (npm === undefined) ctx.skip()
    const underKeeper = run(npm as string, ['run', 'start', '--silent'], { cwd: npmApp(), env: { RELOAD_KEEPER: '1' } })
    await underKeeper.ready(1)
    const direct = run(process.execPath, ['server.js'], { cwd: npmApp() })
    await direct.ready(1)
    // The warning comes before ready, in the constructor: none by now means none at all.
    expect(underKeeper.output).not.toMatch(/started by/)
    expect(direct.output).not.toMatch(/started by/)
  })
})
