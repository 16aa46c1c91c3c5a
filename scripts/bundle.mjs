// The preload's files, made from @reload/core's sources after tsc (by `pnpm build`, and by every package's
// prepack: the others' `tsc -b --force` rebuilds core too, and would leave it tsc's files):
//   dist/register.js              src/register.ts as one ES module, in place of tsc's: what
//                                 `--import @reload/core/register` loads before the app's first line
//   dist/register.cjs             the same as one CommonJS file (the `require` condition): what a keeper
//                                 gives its workers with --require, which spares a CommonJS app Node's ES
//                                 module loader at start (9 ms on Node 20)
//   dist/generation/reloader.cjs  src/generation/reloader.ts and all it imports, as one CommonJS file:
//                                 what either register file require()s at the first listen()
// Each ES module costs a start its own resolve, read, compile and link (measured: the reloader's 31 files
// took about 20 ms more than one file on Node 20, 15 ms on Node 22 and 24).
import { readFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const core = fileURLToPath(new URL('../packages/core/', import.meta.url))
const src = join(core, 'src')
const dist = join(core, 'dist')

// A bundle is not where its modules' files are: `new URL('./holder-main.js', import.meta.url)` must still
// name the file beside the module that wrote it, so each `import.meta.url` becomes that module's place in dist.
function fileUrls (outfile, format) {
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
