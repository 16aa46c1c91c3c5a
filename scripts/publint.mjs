// publint on every published package: what users install must resolve (exports, types, files).
// It lists the files with `npm pack --dry-run --ignore-scripts`: the packages' prepack (scripts/prepack.mjs,
// which refuses npm and rebuilds) does not run, so this checks the dist/ that `pnpm build` made. The
// packed package.json itself (workspace:^ rewritten by pnpm) is checked by scripts/consumer-check.mjs.
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'

const bin = new URL('../node_modules/.bin/publint', import.meta.url).pathname
for (const name of readdirSync(new URL('../packages', import.meta.url))) {
  execFileSync(bin, ['--strict', '--pack', 'npm', `packages/${name}`], { stdio: 'inherit' })
}
