/** Every code a {@link ReloadError} can carry. Branch on these, not on `instanceof`. */
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
  | 'ERR_RELOAD_USAGE'
  | 'ERR_RELOAD_LISTEN'
  | 'ERR_RELOAD_ROLL_FAILED'
  | 'ERR_RELOAD_NO_KEEPER'
  | 'ERR_RELOAD_CONTROL'

/**
 * The one error class of reload. `code` is stable across releases; `message` says what happened and
 * what to do; `cause` carries the underlying error where there is one.
 */
export class ReloadError extends Error {
  override name = 'ReloadError'
  readonly code: ReloadErrorCode

  constructor (code: ReloadErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}
