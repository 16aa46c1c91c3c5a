/**
 * Resolves once `condition()` holds, checking every `every` ms; throws after `timeout` ms with `what` in the
 * message. For states that emit no event (a pid that is gone, a count that settles), never as a fixed sleep.
 */
export async function until (condition: () => boolean, what: string | (() => string), { timeout = 10_000, every = 10 } = {}): Promise<void> {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting until ${typeof what === 'function' ? what() : what}`)
    await new Promise((resolve) => setTimeout(resolve, every))
  }
}
