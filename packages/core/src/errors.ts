/** Every code a {@link ReloadError} of `@reload/core` can carry. Branch on these, not on `instanceof`. */
export type ReloadErrorCode =
  | 'ERR_RELOAD_INVALID_OPTION'
  | 'ERR_RELOAD_NOT_READY'
  | 'ERR_RELOAD_IN_PROGRESS'
  | 'ERR_RELOAD_DRAINING'
  | 'ERR_RELOAD_ABORTED'
  | 'ERR_RELOAD_SPAWN_FAILED'
  | 'ERR_RELOAD_CHILD_EXITED'
  | 'ERR_RELOAD_CHILD_FAILED'
  | 'ERR_RELOAD_READY_TIMEOUT'
  | 'ERR_RELOAD_UNSUPPORTED_PLATFORM'
  | 'ERR_RELOAD_NODE_INTERNALS'
  | 'ERR_RELOAD_SOCKET_PATH'
  | 'ERR_RELOAD_PID_FILE'
  | 'ERR_RELOAD_MANAGED'
  | 'ERR_RELOAD_LISTEN'

/**
 * The one error class of reload. `code` is stable across releases; `message` says what happened and
 * what to do; `cause` carries the underlying error where there is one. `@reload/cli` uses it with codes
 * of its own (`C`), which core never throws.
 */
export class ReloadError<C extends string = ReloadErrorCode> extends Error {
  override name = 'ReloadError'
  readonly code: C

  // NoInfer: core's own `new ReloadError('…')` is checked against core's codes, never widened by a typo.
  constructor (code: NoInfer<C>, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}
