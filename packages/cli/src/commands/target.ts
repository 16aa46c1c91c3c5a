import type { ReloadError } from '@reload/core/keeper'
import type { Target } from '../args.js'
import { findKeeper } from '../control/client.js'
import { CliError } from '../errors.js'

/**
 * The control socket of the keeper `target` names, as {@link findKeeper} finds it; a `--pid 1` that names
 * no keeper says what pid 1 is instead.
 * @throws {ReloadError} as findKeeper does.
 */
export async function keeperOf (target: Target): Promise<string> {
  try {
    return await findKeeper(target)
  } catch (err) {
    // Pid 1 is a keeper only as a container's first process; anywhere else it is the init.
    if (target.pid !== 1 || (err as ReloadError<string>).code !== 'ERR_RELOAD_NO_KEEPER') throw err
    throw new CliError('ERR_RELOAD_NO_KEEPER', 'pid 1 is not a keeper here but the init (systemd, tini, a container\'s entrypoint; a keeper is pid 1 ' +
      'only as the first process of a container): give the keeper\'s pid (its log says `keeper pid N`), or leave --pid out when one keeper runs', { cause: err })
  }
}
