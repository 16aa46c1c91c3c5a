import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { nodeOptionsWords } from '../src/node-options.js'

describe('nodeOptionsWords: NODE_OPTIONS as Node reads it', () => {
  it('parts words by spaces, keeps a quoted part whole without its quotes, and takes a character after a backslash within quotes', () => {
    expect(nodeOptionsWords('')).toEqual([])
    expect(nodeOptionsWords('  --import=tsx   --max-old-space-size=512 ')).toEqual(['--import=tsx', '--max-old-space-size=512'])
    expect(nodeOptionsWords('--import "/srv/my app/x.mjs" --require=a.cjs')).toEqual(['--import', '/srv/my app/x.mjs', '--require=a.cjs'])
    expect(nodeOptionsWords('--require="/a b/c.cjs"')).toEqual(['--require=/a b/c.cjs'])
    expect(nodeOptionsWords('--title="say \\"hi\\" \\\\ now"')).toEqual(['--title=say "hi" \\ now'])
    // Outside quotes a backslash is an ordinary character, and a tab does not part words.
    expect(nodeOptionsWords('--title=a\\b --x\ty')).toEqual(['--title=a\\b', '--x\ty'])
  })

  it('agrees with Node itself: a NODE_OPTIONS word with quotes, spaces and backslashes is the one Node reads (through --title)', () => {
    // --title takes any text, so each word Node parses comes back, unchanged, through process.title.
    for (const value of ['--title="a b  c"', '--title="say \\"hi\\""', '--title=plain', '--title="x\\\\y z"']) {
      const run = spawnSync(process.execPath, ['-e', 'process.stdout.write(process.title)'], { env: { ...process.env, NODE_OPTIONS: value }, encoding: 'utf8' })
      expect(run.status).toBe(0)
      const words = nodeOptionsWords(value)
      expect(words).toHaveLength(1)
      expect(`--title=${run.stdout}`).toBe(words[0])
    }
  })
})
