import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadsAfterSave } from '../src/dev-roll.js'
import { resolvePackage } from '../src/dev-resolve.js'

const root = realpathSync(mkdtempSync(join(tmpdir(), 'reload-resolve-')))
afterAll(() => { rmSync(root, { recursive: true, force: true }) })

/** A package `name` under `root`/node_modules with `manifest` and the files it names. */
function pkg (name: string, manifest: object, files: string[]): string {
  const dir = join(root, 'node_modules', name)
  mkdirSync(dir, { recursive: true })
  for (const file of files) {
    mkdirSync(join(dir, file, '..'), { recursive: true })
    writeFileSync(join(dir, file), '')
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, ...manifest }))
  return dir
}

describe('resolvePackage()', () => {
  const app = join(root, 'app', 'src')
  mkdirSync(app, { recursive: true })

  it.each([
    ['a string', 'plain', { exports: './dist/loader.mjs' }, ['dist/loader.mjs'], 'plain', 'dist/loader.mjs'],
    ['import before require', 'both', { exports: { '.': { import: './esm.mjs', require: './cjs.cjs' } } }, ['esm.mjs', 'cjs.cjs'], 'both', 'esm.mjs'],
    ['require before default', 'later', { exports: { require: './cjs.cjs', default: './any.mjs' } }, ['cjs.cjs', 'any.mjs'], 'later', 'any.mjs'],
    ['types, then node, nested', 'nested', { exports: { '.': { types: './t.d.ts', node: { import: './n.mjs' } } } }, ['n.mjs'], 'nested', 'n.mjs'],
    ['a subpath of a scoped package', '@scope/tool', { exports: { './register': './reg.js' } }, ['reg.js'], '@scope/tool/register', 'reg.js']
  ])('%s', (_what, name, manifest, files, specifier, file) => {
    const dir = pkg(name, manifest, files)
    expect(resolvePackage(specifier, app)).toBe(join(dir, file))
  })

  it.each([
    ['a condition Node may match (module-sync)', 'sync', { exports: { 'module-sync': './a.mjs', default: './b.mjs' } }, ['a.mjs', 'b.mjs'], 'sync'],
    ['a pattern', 'pattern', { exports: { './*': './lib/*.js' } }, ['lib/x.js'], 'pattern/x'],
    ['an array of targets', 'array', { exports: ['./a.mjs'] }, ['a.mjs'], 'array'],
    ['no exports (main is a require() idea)', 'legacy', { main: 'index.js' }, ['index.js'], 'legacy'],
    ['a subpath not exported', 'closed', { exports: { '.': './a.mjs' } }, ['a.mjs'], 'closed/other'],
    ['a target that is not there', 'missing', { exports: './gone.mjs' }, [], 'missing'],
    ['a package not installed', 'absent', undefined, [], 'nothing-here'],
    ['a builtin', 'node', undefined, [], 'node:fs']
  ])('gives up on %s', (_what, name, manifest, files, specifier) => {
    if (manifest !== undefined) pkg(name, manifest, files)
    expect(resolvePackage(specifier, app)).toBeUndefined()
  })
})

describe('loadsAfterSave()', () => {
  it.each([
    ['src/server.ts', true], ['app.mjs', true], ['lib/x.cjs', true], ['view.tsx', true], ['routes/a.js', true],
    ['tsconfig.json', false], ['package.json', false], ['data.yaml', false], ['.env', false],
    ['babel.config.js', false], ['vite.config.mts', false], ['.eslintrc.js', false], ['views/index.html', false]
  ])('%s: %s', (path, expected) => {
    expect(loadsAfterSave(path)).toBe(expected)
  })
})
