import { ReloadError, type ReloadErrorCode } from '@reload/core/keeper'

/** The codes only the `reload` command uses; core's own codes come through from it as they are. */
export type CliErrorCode = 'ERR_RELOAD_USAGE' | 'ERR_RELOAD_ROLL_FAILED' | 'ERR_RELOAD_NO_KEEPER' | 'ERR_RELOAD_CONTROL'

/** An error of the `reload` command: core's {@link ReloadError} with the cli's codes too. */
export class CliError extends ReloadError<CliErrorCode | ReloadErrorCode> {}
