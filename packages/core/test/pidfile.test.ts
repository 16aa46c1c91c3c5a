import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { removePidFile, writePidFile } from '../src/pidfile.js'

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
