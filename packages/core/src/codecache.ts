// Node 20 has no compile cache (module.enableCompileCache came in 22.1): there the preload keeps V8's code
// cache of its own bundled reloader by hand, in the keeper's compile cache folder. Compiling the reloader is
// about half of what it costs a worker's first listen(); with the cache, only the first worker of a user pays it.
import type { Script } from 'node:vm'

// Node's own modules come by process.getBuiltinModule, once called: this file is part of the preload, and each
// builtin it imported as an ES module would cost every start (most of which never get here) that module's facade.

/** The module's exports, and how to write the code cache once it has run for a while (a no-op when it was read). */
export interface Loaded { exports: unknown, save: () => void }

/**
 * Loads the CommonJS file `file` as require() would, through V8's code cache kept in `dir`. V8 rejects a
 * cache made by another V8 or with other flags, but of the source it checks only the length: the entry is
 * named after the file's device, inode, size and ctime, which any write of the file changes (an mtime does
 * not do: npm gives every file it installs the same one). Hashing the source instead would cost a start 3 ms.
 * Undefined, the module not run, when the file cannot be read or compiled: the caller require()s it then.
 */
export function requireWithCodeCache (file: string, dir: string): Loaded | undefined {
  const { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = process.getBuiltinModule('node:fs')
  const { dirname, join } = process.getBuiltinModule('node:path')
  const { createRequire } = process.getBuiltinModule('node:module')
  // NODE_DEBUG=reload, as the reloader's own debug lines.
  const debug = process.getBuiltinModule('node:util').debuglog('reload')
  let script: Script
  let entry: string
  let cachedData: Buffer | undefined
  try {
    const { dev, ino, size, ctimeNs } = statSync(file, { bigint: true })
    const source = readFileSync(file, 'utf8')
    entry = join(dir, 'reload-v8', `${process.version}-${process.arch}-${dev}-${ino}-${size}-${ctimeNs}.bin`)
    try { cachedData = readFileSync(entry) } catch {}
    const vm = process.getBuiltinModule('node:vm')
    // Node's own CommonJS wrapper, on a line of its own so that line and column numbers are the file's.
    script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {\n${source}\n})`, {
      filename: file,
      lineOffset: -1,
      cachedData,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
    })
  } catch {
    return undefined
  }
  const run = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void
  const module = { exports: {} }
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file))
  const read = cachedData !== undefined && !script.cachedDataRejected
  debug('code cache %s: %s', entry, read ? 'read' : cachedData === undefined ? 'none yet' : 'rejected by V8')
  return {
    exports: module.exports,
    save: () => {
      if (read) return
      try {
        // After the first listen: the functions a worker's start ran are compiled by now, and go in too.
        const data = script.createCachedData()
        mkdirSync(dirname(entry), { recursive: true, mode: 0o700 })
        const temporary = `${entry}.${process.pid}`
        writeFileSync(temporary, data, { mode: 0o600 })
        renameSync(temporary, entry)
        debug('code cache %s: written', entry)
      } catch (err) {
        debug('code cache %s: not written (%s)', entry, (err as Error).message)
      }
    }
  }
}
