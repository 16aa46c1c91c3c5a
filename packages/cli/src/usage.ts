import type { CommandName } from './args.js'

const runOptions = `  --listen ADDR            PORT, HOST:PORT, [IPV6]:PORT or unix:/path; repeat for more. Without it: the
                           sockets from systemd (LISTEN_FDS), else $PORT
  --workers N              workers accepting on the same sockets (default 1)
  --pid-file FILE          write the keeper's pid there
  --ready-timeout TIME     how long a new worker may take to be ready (default 60s)
  --drain-timeout TIME     how long a worker may drain before what is left is cut (default 30s)
  --shutdown-delay TIME    on SIGTERM, keep serving this long before draining (default 0)
  --liveness-timeout TIME  replace a worker whose event loop has not answered for this long (default 10s; off)
  --max-memory SIZE        roll a worker over once its resident memory passes SIZE (default off)
  --metrics ADDR           serve Prometheus metrics at http://ADDR/metrics (PORT or HOST:PORT; default off)
  --control PATH           the control socket (default: PID.sock in $XDG_RUNTIME_DIR/reload, else in
                           $TMPDIR/reload-UID, else in a new private $TMPDIR/reload-UID-XXXXXX)
  --no-preload             do not preload @reload/core/register into Node workers
  --no-spare               keep no spare worker booted for restarts (one idle Node process, about 40 MB)`

const units = `  TIME is milliseconds, or a number with ms, s or m. SIZE is bytes, or a number with K, M or G
  (1024-based: KB and KiB, MB and MiB, GB and GiB mean the same); at least 16M.`

const devOptions = `  --listen ADDR            PORT, HOST:PORT, [IPV6]:PORT or unix:/path; repeat for more (default: $PORT)
  --watch PATH             what to watch, recursively (default: the current folder); repeat for more
  --ignore GLOB            what not to watch (always ignored: node_modules .* dist build coverage *.log)
  --ready-timeout TIME     how long the new code may take to be ready (default 30s)
  --drain-timeout TIME     how long the old code may finish its requests (default 5s)
  --liveness-timeout TIME  replace a worker whose event loop has not answered for this long (default off: a
                           debugger paused at a breakpoint stops the event loop)
  --max-memory SIZE        roll the worker over once its resident memory passes SIZE (default off)
  --no-preload             do not preload @reload/core/register into the worker`

const targetOptions = `  --control PATH           the keeper's control socket (its --control)
  --pid PID                the keeper's pid
  --pid-file FILE          the keeper's --pid-file
  With one keeper of this user running, none is needed.`

const helpOption = '  -h, --help               this help'

// Options before the command, because everything after its first word is the command's own.
const where = 'Options go before the command, and before --.'

/** What `reload <command> --help` prints: its usage line, its options and one example. */
export const help: Record<CommandName, string> = {
  run: `Usage: reload run [options] -- <command> [args...]

Runs <command> as workers of a keeper that holds the listening sockets: SIGHUP (or reload reload) rolls the
workers over to the code on disk one at a time, a crashed worker is started again, the keeper's pid stays.
${where}

Options:
${runOptions}
${helpOption}
${units}

Example:
  reload run --listen 8080 --workers 2 -- node server.js
`,
  dev: `Usage: reload dev [options] -- <command> [args...]

Runs <command> and hands over to the new code at every save; the port never closes. Type rs and Enter to
reload by hand. ${where}

Options:
${devOptions}
${helpOption}
${units}

Example:
  reload dev --listen 3000 -- node --import tsx src/server.ts
`,
  status: `Usage: reload status [--json | --watch [--interval TIME]] [target]

Shows the keeper, its workers (pid, generation, state, requests in flight, memory, CPU, restarts) and its
last reloads.

Options:
  --json                   one JSON object, for programs
  --watch                  refresh until Ctrl-C
  --interval TIME          how often --watch refreshes (default 1s)
${targetOptions}
${helpOption}

Example:
  reload status --watch
`,
  reload: `Usage: reload reload [--wait] [--timeout TIME] [target]

Rolls the keeper's workers over to the code on disk, as SIGHUP to the keeper does.

Options:
  --wait                   wait for the result: exit 0 once every worker runs the new code, 1 with the reason
                           when the roll failed
  --timeout TIME           how long to wait (default 10s; with --wait, the keeper's own limits)
${targetOptions}
${helpOption}

Example:
  reload reload --wait
`
}

/** What `reload --help` prints. */
export const usage = `Usage:
  reload run [options] -- <command> [args...]   run <command> as workers of a keeper that holds the sockets
  reload status [--json] [--watch] [target]      show the keeper's workers (--watch: refresh every second)
  reload reload [--wait] [target]                roll the workers over to new code (SIGHUP to the keeper)
  reload dev [options] -- <command> [args...]   run <command>, and hand over to the new code at every save
  reload <command> --help                        that command's options, and an example
  reload --version                               the version of reload

reload run options (before the command, and before --):
${runOptions}
${units}

reload dev options: --listen (default: $PORT), --ready-timeout (default 30s), --drain-timeout (default 5s),
  --max-memory, --no-preload, --liveness-timeout (default off: a debugger paused at a breakpoint stops the
  event loop), and
  --watch PATH             what to watch, recursively (default: the current folder); repeat for more
  --ignore GLOB            what not to watch (always ignored: node_modules .* dist build coverage *.log)
  Type rs and Enter to reload by hand.

target (status, reload): --control PATH, --pid PID or --pid-file FILE; none needed when one keeper runs.
  reload reload --wait exits 0 once every worker runs the new code, 1 with the reason when the roll failed
  (--timeout TIME bounds the wait, default: the keeper's own limits). Without --wait, reload reload gives up
  after --timeout (default 10s); the keeper never runs a request it reads after its client gave up.

Example:
  reload run --listen 8080 --workers 2 -- node server.js
`
