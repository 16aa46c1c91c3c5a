import { readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'

// The conditions Node matches for an import (`--conditions` adds others), and those it never matches for one.
const matched = new Set(['node', 'import', 'default'])
const unmatched = new Set(['require', 'types', 'browser', 'deno', 'bun', 'worker', 'react-native', 'electron', 'development', 'production'])

// A target of `exports` for an import: undefined when Node might choose otherwise (an array, a condition of
// which it is not sure, a pattern), so the caller gives up rather than load a second copy of the module.
function target (value: unknown): string | undefined {
  if (typeof value === 'string') return value.startsWith('./') && !value.includes('*') ? value : undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  for (const [condition, inner] of Object.entries(value)) {
    if (matched.has(condition)) return target(inner)
    if (!unmatched.has(condition)) return undefined
  }
  return undefined
}

function exported (exports: unknown, subpath: string): string | undefined {
  if (typeof exports === 'string' || Array.isArray(exports)) return subpath === '.' ? target(exports) : undefined
  if (exports === null || typeof exports !== 'object') return undefined
  const isMap = Object.keys(exports).some((key) => key.startsWith('.'))
  if (!isMap) return subpath === '.' ? target(exports) : undefined
  return target((exports as Record<string, unknown>)[subpath])
}

/**
 * The file `import(specifier)` loads from a module in `cwd`, for a package specifier (`tsx`, `@scope/pkg/sub`)
 * whose package has an `exports` field Node reads one way: its real path, or undefined when unsure. Node's
 * own resolver takes a parent URL only behind a flag, and this runs before the app's first module.
 */
export function resolvePackage (specifier: string, cwd: string): string | undefined {
  const parts = /^(@[^/]+\/[^/]+|[^@./][^/]*)(\/.+)?$/.exec(specifier)
  if (parts === null || specifier.startsWith('node:') || specifier.includes(':')) return undefined
  const name = parts[1] as string
  const subpath = `.${parts[2] ?? ''}`
  for (let dir = cwd; ; dir = dirname(dir)) {
    const folder = join(dir, 'node_modules', name)
    let manifest: { exports?: unknown } | undefined
    try { manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { exports?: unknown } } catch {}
    if (manifest !== undefined) {
      const file = manifest.exports === undefined ? undefined : exported(manifest.exports, subpath)
      if (file === undefined) return undefined
      try { return realpathSync(join(folder, file)) } catch { return undefined }
    }
    if (dirname(dir) === dir) return undefined
  }
}
