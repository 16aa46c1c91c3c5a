// The preload's files, made from @reload/core's sources after tsc (by `pnpm build`, and by every package's
// prepack: the others' `tsc -b --force` rebuilds core too, and would leave it tsc's files):
//   dist/register.js              src/register.ts as one ES module, in place of tsc's: what
//                                 `--import @reload/core/register` loads before the app's first line
//   dist/register.cjs             the same as one CommonJS file (the `require` condition): what a keeper
//                                 gives its workers with --require, which spares a CommonJS app Node's ES
//                                 module loader at start (9 ms on Node 20)
//   dist/generation/reloader.cjs  src/generation/reloader.ts and all it imports, as one CommonJS file:
//                                 what either register file require()s at the first listen()
// And the command line's, from @reload/cli's sources:
//   dist/bundle/main.js and its chunks
//                                 src/main.ts and @reload/core's keeper code with it, one chunk per
//                                 command (and one for --metrics, which loads prom-client): what
//                                 bin/reload.js runs. Its 60 modules took a keeper 45 to 55 ms to load
//                                 on Node 20, the bundle about 22, before it can bind and start a worker.
//                                 The package's own exports stay tsc's files.
// Each ES module costs a start its own resolve, read, compile and link (measured: the reloader's 31 files
// took about 20 ms more than one file on Node 20, 15 ms on Node 22 and 24).
import { readdir, readFile, rm } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const core = fileURLToPath(new URL('../packages/core/', import.meta.url))
const src = join(core, 'src')
const dist = join(core, 'dist')
const cli = fileURLToPath(new URL('../packages/cli/', import.meta.url))
const root = fileURLToPath(new URL('../', import.meta.url))

// A bundle is not where its modules' files are: `new URL('./holder-main.js', import.meta.url)` must still
// name the file beside the module that wrote it, so each `import.meta.url` becomes that module's place in dist.
function fileUrls (outfile, format, { src, dist } = { src: join(core, 'src'), dist: join(core, 'dist') }) {
  return {
    name: 'file-urls',
    setup (b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8')
        const file = join(dist, relative(src, args.path)).replace(/\.ts$/, '.js')
        if (!text.includes('import.meta.url') || file === outfile) return undefined
        const path = relative(dirname(outfile), file).split(sep).join('/')
        // A CommonJS entry's own URL is its own file's, which has a name of its own (register.cjs).
        const url = format === 'cjs'
          ? (file === outfile.replace(/\.cjs$/, '.js')
              ? 'require(\'node:url\').pathToFileURL(__filename).href'
              : `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(path)})).href`)
          : `new URL(${JSON.stringify(`./${path}`)}, import.meta.url).href`
        return { contents: text.replaceAll('import.meta.url', url), loader: 'ts' }
      })
    }
  }
}

async function bundle (entry, outfile, format, define = {}) {
  const result = await build({
    entryPoints: [join(src, entry)],
    outfile,
    format,
    bundle: true,
    platform: 'node',
    target: 'node20',
    // Packages stay the app's to resolve (prom-client, for one).
    packages: 'external',
    define,
    plugins: [fileUrls(outfile, format)],
    sourcemap: true,
    minifyWhitespace: format === 'cjs',
    minifySyntax: format === 'cjs',
    // The package ships src/, where the map points.
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    // Any other import.meta (dirname, resolve) would be empty in CommonJS: a build error, not a broken preload.
    logOverride: { 'empty-import-meta': 'error' }
  })
  return Object.keys(result.metafile.inputs)
}

// Both register files require() the one reloader bundle.
const reloaderBundle = { RELOAD_BUNDLE: JSON.stringify('./generation/reloader.cjs') }
const inputs = await bundle('register.ts', join(dist, 'register.js'), 'esm', reloaderBundle)
// What the preload loads before the app's first line must stay small: the reloader comes at the first listen().
const eager = inputs.filter((input) => input.includes('generation/'))
if (eager.length > 0) {
  console.error(`scripts/bundle.mjs: dist/register.js would load ${eager.join(', ')} at start; register.ts must import the reloader lazily`)
  process.exit(1)
}
await bundle(join('generation', 'reloader.ts'), join(dist, 'generation', 'reloader.cjs'), 'cjs')
await bundle('register.ts', join(dist, 'register.cjs'), 'cjs', reloaderBundle)

// The command line. Every chunk lands in dist/bundle/, so each module's import.meta.url is made its tsc file's
// place (dist/preload.js resolves @reload/core/register from there, dist/dev-spare.js names dist/dev-preload.js).
const cliDist = join(cli, 'dist')
const cliOut = join(cliDist, 'bundle')
const cliBuild = await build({
  entryPoints: { main: join(cli, 'src', 'main.ts') },
  outdir: cliOut,
  chunkNames: '[name]-[hash]',
  format: 'esm',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  // @reload/core comes in (its keeper code is most of what a keeper loads); prom-client stays the app's.
  external: ['prom-client'],
  plugins: [fileUrls(join(cliOut, 'main.js'), 'esm', { src: join(cli, 'src'), dist: cliDist })],
  sourcemap: true,
  sourcesContent: false,
  metafile: true,
  logLevel: 'warning',
  // The same files, named alike, from whichever package's prepack runs this: chunk names hash the paths in them.
  absWorkingDir: root
})
// A module of core taken in keeps no place of its own: one that asks where it is would be answered wrong.
for (const input of Object.keys(cliBuild.metafile.inputs).map((path) => resolve(root, path))) {
  if (!input.startsWith(core)) continue
  if ((await readFile(input, 'utf8')).includes('import.meta')) {
    console.error(`scripts/bundle.mjs: the command line's bundle takes in ${input}, which uses import.meta: import it from a module the bundle leaves out`)
    process.exit(1)
  }
}
// Chunks of an earlier build are removed after this one is written, not before: every package's prepack runs
// this script, and pnpm may pack @reload/cli while another's run is still writing.
const written = new Set(Object.keys(cliBuild.metafile.outputs).map((path) => resolve(root, path)))
for (const file of await readdir(cliOut)) {
  if (!written.has(join(cliOut, file))) await rm(join(cliOut, file), { force: true })
}
