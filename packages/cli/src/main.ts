import { readFileSync } from 'node:fs'
import { ReloadError } from '@reload/core/keeper'
import { parseArgs } from './args.js'
import { help, usage } from './usage.js'

/** Runs the `reload` command line; resolves with the exit code (undefined: the process exits on its own). */
export async function main (argv: string[]): Promise<number | undefined> {
  try {
    const command = parseArgs(argv)
    switch (command.name) {
      case 'help': process.stdout.write(command.command === undefined ? usage : help[command.command]); return 0
      case 'version': process.stdout.write(`${version()}\n`); return 0
      // Each command loads its own modules only: a keeper starts its first worker sooner, `reload status` answers sooner.
      case 'run': return await (await import('./commands/run.js')).run(command.options)
      case 'dev': return await (await import('./commands/dev.js')).dev(command.options)
      case 'status': return await (await import('./commands/status.js')).status(command)
      case 'reload': return await (await import('./commands/reload.js')).reload(command)
    }
  } catch (err) {
    // A usage error exits 2, any other of reload's errors 1; anything else is a bug, and says so.
    if (err instanceof ReloadError) {
      process.stderr.write(`reload: ${err.message} (${err.code})\n`)
      return err.code === 'ERR_RELOAD_USAGE' ? 2 : 1
    }
    throw err
  }
}

// Read beside the built file, not compiled in: the same dist/ in the repository and in the packed tarball.
function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}
