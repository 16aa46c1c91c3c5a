import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs'
import { basename, join, relative, sep } from 'node:path'
import { performance } from 'node:perf_hooks'

/** Directories and files `reload dev` never watches: dependencies, dot-folders, build output, logs. */
export const defaultIgnores = ['node_modules', '.*', 'dist', 'build', 'coverage', '*.log']

/** A glob (`*`, `**`, `?`) as a regular expression over a path with `/` separators. */
export function globToRegExp (glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*'
      i++
      if (glob[i + 1] === '/') i++
    } else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

/**
 * Whether `path` (relative to a watched root) is ignored: a glob with a `/` matches the whole relative path,
 * one without matches any single segment (`node_modules` anywhere, `*.log` in any folder).
 */
export function ignoredBy (globs: string[]): (path: string) => boolean {
  const whole = globs.filter((g) => g.includes('/')).map((g) => globToRegExp(g.replace(/^\.\//, '').replace(/\/$/, '')))
  const segment = globs.filter((g) => !g.includes('/')).map(globToRegExp)
  return (path) => {
    const rel = path.split(sep).join('/')
    if (whole.some((re) => re.test(rel) || rel.split('/').some((_, i, parts) => re.test(parts.slice(0, i + 1).join('/'))))) return true
    return rel.split('/').some((part) => part !== '' && part !== '.' && segment.some((re) => re.test(part)))
  }
}

/**
 * Watches every folder under `roots` that is not ignored, one inotify watch per folder (Node's recursive
 * watch would also watch node_modules, often tens of thousands of files), and folders created later.
 * Calls `onChange` with the path of each file that changed.
 */
export class Watcher {
  readonly #watchers = new Map<string, FSWatcher>()
  readonly #ignored: (path: string) => boolean
  readonly #onChange: (path: string) => void
  readonly #roots: string[]

  constructor (roots: string[], ignore: string[], onChange: (path: string) => void) {
    this.#roots = roots
    this.#ignored = ignoredBy(ignore)
    this.#onChange = onChange
    for (const root of roots) this.#add(root, root)
  }

  get folders (): number { return this.#watchers.size }

  close (): void {
    for (const watcher of this.#watchers.values()) watcher.close()
    this.#watchers.clear()
  }

  #isIgnored (root: string, path: string): boolean {
    const rel = relative(root, path)
    return rel !== '' && this.#ignored(rel)
  }

  #add (root: string, dir: string): void {
    if (this.#watchers.has(dir) || this.#isIgnored(root, dir)) return
    let watcher: FSWatcher
    try {
      watcher = watch(dir, (_event, name) => {
        if (name === null) return
        const path = join(dir, name.toString())
        if (this.#isIgnored(root, path)) return
        let isDir = false
        try { isDir = statSync(path).isDirectory() } catch {}
        if (isDir) this.#add(root, path)
        else this.#onChange(path)
      })
    } catch {
      return
    }
    // A folder that is removed ends its watch.
    watcher.on('error', () => { watcher.close(); this.#watchers.delete(dir) })
    this.#watchers.set(dir, watcher)
    let entries
    try { entries = readdirSync(dir, { withFileTypes: true }) } catch { return }
    for (const entry of entries) if (entry.isDirectory()) this.#add(root, join(dir, entry.name))
  }

  /** `path` as the user reads it: relative to the first root that holds it. */
  show (path: string): string {
    for (const root of this.#roots) {
      const rel = relative(root, path)
      if (!rel.startsWith('..')) return rel === '' ? basename(path) : rel
    }
    return path
  }
}

/**
 * The changes of one save, however many events it makes (an editor's write to a temporary file, rename and
 * chmod; a write in place, which truncates first): `onSave` gets them once `quiet` ms pass without another,
 * with when the first came (performance.now()).
 */
export class Saves {
  readonly #quiet: number
  readonly #onSave: (paths: string[], since: number) => void
  #paths: string[] = []
  #since = 0
  #timer: NodeJS.Timeout | undefined

  constructor (quiet: number, onSave: (paths: string[], since: number) => void) {
    this.#quiet = quiet
    this.#onSave = onSave
  }

  add (path: string): void {
    if (this.#paths.length === 0) this.#since = performance.now()
    if (!this.#paths.includes(path)) this.#paths.push(path)
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      const paths = this.#paths
      this.#paths = []
      this.#onSave(paths, this.#since)
    }, this.#quiet)
  }
}
