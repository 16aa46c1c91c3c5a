// One status line while the bench runs: rewritten in place on a terminal, printed every few seconds in a log.

const tty = process.stderr.isTTY === true
let text = ''
let shown = ''
let lastPrint = 0
let timer

function render () {
  if (text === shown) return
  if (tty) {
    process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 120) - 1)}`)
    shown = text
  } else if (Date.now() - lastPrint >= 5000) {
    process.stderr.write(`${text}\n`)
    shown = text
    lastPrint = Date.now()
  }
}

/** Sets the status line; `poll` (optional) is called every 250 ms for a fresh one until the next set. */
export function status (line, poll) {
  clearInterval(timer)
  text = line
  render()
  if (poll !== undefined) {
    timer = setInterval(() => { text = poll(); render() }, 250)
    timer.unref()
  }
}

/** Prints a line of its own, above the status line. */
export function say (line) {
  if (tty && shown !== '') process.stderr.write('\r\x1b[K')
  process.stderr.write(`${line}\n`)
  shown = ''
  if (tty) render()
}

/** Clears the status line. */
export function clear () {
  clearInterval(timer)
  if (tty && shown !== '') process.stderr.write('\r\x1b[K')
  text = ''
  shown = ''
}
