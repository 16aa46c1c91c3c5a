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
//   dist/bundle/main.cjs          src/main.ts and @reload/core's keeper code with it, as one CommonJS
//                                 file: what bin/reload.cjs runs. Its 60 modules took a keeper 45 to
//                                 55 ms to load on Node 20, a bundle about 22, this one file less (below),
//                                 before it can bind and start a worker. The package's own exports stay
//                                 tsc's files.
// Each ES module costs a start its own resolve, read, compile and link (measured: the reloader's 31 files
// took about 20 ms more than one file on Node 20, 15 ms on Node 22 and 24).
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
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

// The command line, one CommonJS file in dist/bundle/, so each module's import.meta.url is made its tsc file's
// place (dist/preload.js resolves @reload/core/register from there, dist/dev-spare.js names dist/dev-preload.js).
// CommonJS because Node starts its ES module loader for an ES module entry, and loads each chunk through it: the
// split ES module bundle this replaced took `reload --version` 26 ms over `node -e 0` on Node 20 and 55 to 60
// on Node 22 and 24, this file 15 to 18. A command's code (dev, status, --metrics) still runs only when called:
// esbuild makes what an import() brought a function run at that import().
const cliDist = join(cli, 'dist')
const cliOut = join(cliDist, 'bundle')
const cliFile = join(cliOut, 'main.cjs')
const cliBuild = await build({
  entryPoints: [join(cli, 'src', 'main.ts')],
  outfile: cliFile,
  format: 'cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  // @reload/core comes in (its keeper code is most of what a keeper loads); prom-client stays the app's.
  external: ['prom-client'],
  plugins: [fileUrls(cliFile, 'cjs', { src: join(cli, 'src'), dist: cliDist })],
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  sourcesContent: false,
  metafile: true,
  logLevel: 'warning',
  logOverride: { 'empty-import-meta': 'error' },
  // The same file from whichever package's prepack runs this; written below, whole or not at all.
  absWorkingDir: root,
  write: false
})
// A module of core taken in keeps no place of its own: one that asks where it is would be answered wrong.
for (const input of Object.keys(cliBuild.metafile.inputs).map((path) => resolve(root, path))) {
  if (!input.startsWith(core)) continue
  if ((await readFile(input, 'utf8')).includes('import.meta')) {
    console.error(`scripts/bundle.mjs: the command line's bundle takes in ${input}, which uses import.meta: import it from a module the bundle leaves out`)
    process.exit(1)
  }
}
// Every package's prepack runs this script, and pnpm may pack @reload/cli while another's run writes: each file
// is written beside the package's shipped folders and renamed into place, so a pack takes the last whole one;
// then what an earlier build left (its chunks) goes.
await mkdir(cliOut, { recursive: true })
for (const { path, contents } of cliBuild.outputFiles) {
  const temporary = join(cli, `.bundle-${process.pid}-${basename(path)}`)
  await writeFile(temporary, contents)
  await rename(temporary, path)
}
const written = new Set(cliBuild.outputFiles.map(({ path }) => path))
for (const file of await readdir(cliOut)) {
  if (!written.has(join(cliOut, file))) await rm(join(cliOut, file), { force: true })
}
