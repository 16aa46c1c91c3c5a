// prepack of every published package, run in the package's folder by `pnpm pack` / `pnpm publish`, before
// its `tsc -b --force` (so a fresh clone packs built code).
// 1. Refuses any packer but pnpm: the packages depend on each other as `workspace:^`, which pnpm pack and
//    pnpm publish rewrite to real version ranges; npm (and yarn 1) would ship it as it is, uninstallable.
// 2. Removes what dist/ has from sources that no longer exist (tsc never deletes an output), so a tarball
//    packed in a working tree ships no stale module.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const agent = process.env.npm_config_user_agent ?? ''
const name = process.env.npm_package_name ?? 'this package'
if (!agent.startsWith('pnpm/')) {
  const by = agent.split(' ')[0] || 'this tool'
  console.error(`\n${name}: pack and publish it with pnpm (\`pnpm pack\`, \`pnpm publish\`), not ${by}.`)
  console.error('The @reload packages depend on each other as `workspace:^`, which only pnpm rewrites to real version ranges.\n')
  process.exit(1)
}

if (existsSync('dist')) {
  for (const entry of readdirSync('dist', { withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = entry.name
    const base = file.replace(/(\.d)?\.(js|ts)(\.map)?$/, '')
    if (!existsSync(join('src', `${base}.ts`))) {
      rmSync(join('dist', file), { force: true })
      console.log(`${name}: removed dist/${file}, whose source is gone`)
    }
  }
}
