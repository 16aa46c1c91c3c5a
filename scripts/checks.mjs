// `pnpm lint` and `pnpm typecheck` at once: eslint, publint and tsc each wait on something else (disk, npm,
// one core), so side by side they take about as long as the slowest of them instead of their sum.
// The commands are read from package.json ("lint" split at `&&`, and "typecheck"), so they stay the ones
// `pnpm lint` and `pnpm typecheck` run. Each one's output is printed whole once it ends (never interleaved),
// and this exits 1 if any of them failed, after all of them ended.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const commands = [...scripts.lint.split('&&'), scripts.typecheck].map((c) => c.trim())

// As pnpm runs a script: the workspace's binaries first on PATH (already so under `pnpm test`).
const env = { ...process.env, PATH: [join(root, 'node_modules/.bin'), process.env.PATH].join(delimiter) }

function run (command) {
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks = []
    child.stdout.on('data', (c) => chunks.push(c))
    child.stderr.on('data', (c) => chunks.push(c))
    child.on('error', (err) => chunks.push(Buffer.from(`${err.message}\n`)))
    child.on('close', (code, signal) => {
      const ok = code === 0
      const seconds = ((Date.now() - started) / 1000).toFixed(1)
      const output = Buffer.concat(chunks).toString('utf8')
      process.stdout.write(`\n> ${command}  (${ok ? 'ok' : `failed: ${signal ?? `exit code ${code}`}`}, ${seconds} s)\n${output}${output === '' || output.endsWith('\n') ? '' : '\n'}`)
      resolve(ok)
    })
  })
}

const results = await Promise.all(commands.map(run))
const failed = commands.filter((_, i) => !results[i])
if (failed.length > 0) {
  process.stdout.write(`\nfailed: ${failed.join(', ')}\n`)
  process.exit(1)
}
