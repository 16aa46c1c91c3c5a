// What the plain apps share with the examples: PORT, HOST, the listening line; and what a careful PM2
// user adds: `process.send('ready')` for `wait_ready`, and a SIGINT handler that closes the server.

export const port = Number(process.env.PORT ?? 8080)
export const host = process.env.HOST ?? '127.0.0.1'

/** Seconds from a `?sleep=` value (decimals allowed; anything else is 0). */
export function seconds (value) {
  const sleep = Number(value)
  return Number.isFinite(sleep) && sleep > 0 ? sleep : 0
}

/** Resolves after `?sleep=` seconds. */
export function wait (value) {
  return new Promise((resolve) => setTimeout(resolve, seconds(value) * 1000))
}

/**
 * Prints the listening line, tells PM2 it is ready (`wait_ready`), and on SIGINT (PM2's stop signal)
 * closes the server and exits once it is closed. SIGTERM keeps Node's default: the process ends at once,
 * as most apps do, which is what a naive restart gets. With BENCH_PLAIN=1 (the keeper part's "plain app")
 * it only prints the line: no `ready` message, no SIGINT handler, an app that knows nothing of either.
 */
export function served (address, close) {
  console.log(`listening on http://${host}:${address.port} (pid ${process.pid})`)
  if (process.env.BENCH_PLAIN === '1') return
  process.send?.('ready')
  process.once('SIGINT', () => close(() => process.exit(0)))
}
