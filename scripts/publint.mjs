// publint on every published package: what users install must resolve (exports, types, files).
// The packed file lists come from one `npm pack --dry-run --ignore-scripts` for all the packages (one npm
// start instead of one per package): the packages' prepack (scripts/prepack.mjs, which refuses npm and
// rebuilds) does not run, so this checks the dist/ that `pnpm build` made. The packed package.json itself
// (workspace:^ rewritten by pnpm) is checked by scripts/consumer-check.mjs.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'

const root = fileURLToPath(new URL('..', import.meta.url))
const dirs = readdirSync(join(root, 'packages')).map((name) => join(root, 'packages', name))
// "./" makes npm read each as a folder, not as a GitHub owner/name.
const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', ...dirs.map((d) => `./${d.slice(root.length)}`)],
  { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }))
let failed = 0
for (const pkgDir of dirs) {
  const { name } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
  const entry = packed.find((p) => p.name === name)
  if (entry === undefined) throw new Error(`npm pack listed no files for ${name}`)
  const files = entry.files.map((f) => ({ name: join(pkgDir, f.path), data: readFileSync(join(pkgDir, f.path)) }))
  const { messages, pkg } = await publint({ pkgDir, pack: { files }, strict: true })
  for (const message of messages) process.stdout.write(`${pkg.name}: ${message.type}: ${formatMessage(message, pkg) ?? message.code}\n`)
  failed += messages.filter((m) => m.type === 'error').length
  if (messages.length === 0) process.stdout.write(`${pkg.name}: all good (${files.length} files)\n`)
}
process.exit(failed > 0 ? 1 : 0)
