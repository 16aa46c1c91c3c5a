// What a result was measured on: the commit (and whether the tree had changes), Node, the machine, the date.
// A figure without these cannot be compared with the next one.
import { execFileSync } from 'node:child_process'
import os from 'node:os'

function git (cwd, args) {
  try {
    // --no-optional-locks: reading the status must not take the index lock from someone working in the tree.
    return execFileSync('git', ['--no-optional-locks', ...args], { cwd, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return undefined
  }
}

/**
 * The commit of `root` (`<sha>-dirty` when `git status --porcelain` lists anything; undefined outside a
 * repository), the changed paths, and the machine.
 */
export function provenance (root) {
  const head = git(root, ['rev-parse', 'HEAD'])?.trim()
  const changed = (git(root, ['status', '--porcelain']) ?? '').split('\n').filter(Boolean)
  const cpus = os.cpus()
  return {
    commit: head === undefined ? undefined : `${head}${changed.length > 0 ? '-dirty' : ''}`,
    changed,
    date: new Date().toISOString(),
    machine: {
      node: process.versions.node,
      os: `${os.type()} ${os.release()} (${os.version()}) ${os.arch()}`,
      cpu: cpus[0]?.model.trim() ?? '?',
      cpus: cpus.length,
      memGb: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
      loadavg: os.loadavg().map((n) => Math.round(n * 100) / 100)
    }
  }
}
