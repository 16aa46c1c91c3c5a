import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { pidFileOwner, removePidFile, writePidFile } from '../src/generation/pidfile.js'

describe('writePidFile()', () => {
  const dirs: string[] = []
  afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

  it('never writes through a symlink planted at a temporary name it could have used', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-pid-'))
    dirs.push(dir)
    const victim = join(dir, 'victim')
    writeFileSync(victim, 'precious\n')
    // The name a temporary file used to get: `.<basename>.<pid>.tmp`.
    symlinkSync(victim, join(dir, '.app.pid.4242.tmp'))
    writePidFile(join(dir, 'app.pid'), 4242)
    expect(readFileSync(victim, 'utf8')).toBe('precious\n')
    expect(lstatSync(join(dir, 'app.pid')).isFile()).toBe(true)
    expect(readFileSync(join(dir, 'app.pid'), 'utf8')).toBe('4242\n')
    expect(readdirSync(dir).sort()).toEqual(['.app.pid.4242.tmp', 'app.pid', 'victim'])
  })

  it('replaces a symlink at the pid file\'s own path instead of writing through it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-pid-'))
    dirs.push(dir)
    writeFileSync(join(dir, 'victim'), 'precious\n')
    symlinkSync(join(dir, 'victim'), join(dir, 'app.pid'))
    writePidFile(join(dir, 'app.pid'), 7)
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('precious\n')
    expect(readFileSync(join(dir, 'app.pid'), 'utf8')).toBe('7\n')
  })
})

describe('writePidFile() when the write fails', () => {
  const dirs: string[] = []
  afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

  it('leaves no temporary file behind on a full disk (ENOSPC)', (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root, to mount a tmpfs')
    const dir = mkdtempSync(join(tmpdir(), 'reload-pid-'))
    dirs.push(dir)
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', dir], { encoding: 'utf8' })
    if (mount.status !== 0) ctx.skip(`cannot mount a tmpfs: ${(mount.stderr || String(mount.error)).trim()}`)
    try {
      // One page, filled: creating the temporary file works, writing into it does not.
      writeFileSync(join(dir, 'filler'), Buffer.alloc(4096))
      expect(() => writePidFile(join(dir, 'app.pid'), 4242)).toThrow(expect.objectContaining({ code: 'ENOSPC' }))
      expect(readdirSync(dir)).toEqual(['filler'])
    } finally {
      spawnSync('umount', [dir])
    }
  })

  it('leaves no temporary file behind when the rename fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-pid-'))
    dirs.push(dir)
    // A folder that is not empty cannot be renamed over.
    mkdirSync(join(dir, 'app.pid'))
    writeFileSync(join(dir, 'app.pid', 'inside'), '')
    expect(() => writePidFile(join(dir, 'app.pid'), 4242)).toThrow()
    expect(readdirSync(dir)).toEqual(['app.pid'])
  })
})

describe('writePidFile() with unlessHeldBy', () => {
  const dirs: string[] = []
  afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

  it('refuses the file of a live process whose command line matches; overwrites a dead pid, an unrelated process or its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-pid-'))
    dirs.push(dir)
    const path = join(dir, 'app.pid')
    // A live process that looks like a keeper: its command line says so.
    const keeper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'reload-keeper-lookalike'], { stdio: 'ignore' })
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    try {
      await Promise.all([once(keeper, 'spawn'), once(other, 'spawn')])
      writePidFile(path, keeper.pid)
      expect(pidFileOwner(path, /reload-keeper-lookalike/)).toMatchObject({ pid: keeper.pid })
      expect(() => writePidFile(path, 4242, { unlessHeldBy: /reload-keeper-lookalike/ })).toThrow(expect.objectContaining({
        code: 'ERR_RELOAD_PID_FILE',
        message: expect.stringMatching(new RegExp(`^the pid file ${path} belongs to pid ${keeper.pid}, which still runs \\(.*reload-keeper-lookalike\\): stop that one first, or choose another pid file$`)) as string
      }))
      expect(readFileSync(path, 'utf8')).toBe(`${keeper.pid}\n`)
      expect(readdirSync(dir)).toEqual(['app.pid'])
      // Its own pid (a keeper that restarts in place) is no other owner.
      writePidFile(path, keeper.pid, { unlessHeldBy: /reload-keeper-lookalike/ })
      // A pid reused by an unrelated process: stale.
      writePidFile(path, other.pid)
      writePidFile(path, 4242, { unlessHeldBy: /reload-keeper-lookalike/ })
      expect(readFileSync(path, 'utf8')).toBe('4242\n')
      // A dead pid: stale.
      keeper.kill('SIGKILL')
      await once(keeper, 'exit')
      writePidFile(path, keeper.pid)
      writePidFile(path, 4343, { unlessHeldBy: /reload-keeper-lookalike/ })
      expect(readFileSync(path, 'utf8')).toBe('4343\n')
      // Garbage: stale.
      writeFileSync(path, 'not a pid\n')
      writePidFile(path, 4444, { unlessHeldBy: /./ })
      expect(readFileSync(path, 'utf8')).toBe('4444\n')
    } finally {
      keeper.kill('SIGKILL')
      other.kill('SIGKILL')
    }
  })
})

describe('removePidFile()', () => {
  it('removes the file only while it holds this pid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'reload-pid-'))
    try {
      writePidFile(join(dir, 'app.pid'), 8)
      expect(removePidFile(join(dir, 'app.pid'), 9)).toBe(false)
      expect(removePidFile(join(dir, 'app.pid'), 8)).toBe(true)
      expect(readdirSync(dir)).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
