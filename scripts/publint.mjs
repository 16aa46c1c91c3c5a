// publint on every published package: what users install must resolve (exports, types, files).
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'

const bin = new URL('../node_modules/.bin/publint', import.meta.url).pathname
for (const name of readdirSync(new URL('../packages', import.meta.url))) {
  execFileSync(bin, ['--strict', '--pack', 'npm', `packages/${name}`], { stdio: 'inherit' })
}
