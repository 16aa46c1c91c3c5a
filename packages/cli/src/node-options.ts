/**
 * The words of a NODE_OPTIONS value as Node reads them: parted by spaces (only spaces), where a double-quoted
 * part may hold spaces, and a backslash within quotes takes the next character as it is. The quotes are
 * not part of the word: `--import "/srv/my app/x.mjs"` is `--import` and `/srv/my app/x.mjs`. (Node's own
 * parser, ParseNodeOptionsEnvVar in src/node_options.cc, which rejects a backslash that ends the value.)
 */
export function nodeOptionsWords (value: string): string[] {
  const words: string[] = []
  let word: string | undefined
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    let c = value[i] as string
    if (c === '\\' && quoted && i + 1 < value.length) {
      c = value[++i] as string
    } else if (c === ' ' && !quoted) {
      if (word !== undefined) words.push(word)
      word = undefined
      continue
    } else if (c === '"') {
      quoted = !quoted
      continue
    }
    word = (word ?? '') + c
  }
  if (word !== undefined) words.push(word)
  return words
}
