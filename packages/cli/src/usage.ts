/** What `reload --help` prints. */
export const usage = `Usage:
  reload run [options] -- <command> [args...]   run <command> as workers of a keeper that holds the sockets
  reload status [--json] [--watch] [target]      show the keeper's workers (--watch: refresh every second)
  reload reload [--wait] [target]                roll the workers over to new code (SIGHUP to the keeper)
  reload dev [options] -- <command> [args...]   run <command>, and hand over to the new code at every save

reload run options:
  --listen ADDR            PORT, HOST:PORT, [IPV6]:PORT or unix:/path; repeat for more (also: systemd LISTEN_FDS)
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
  TIME is milliseconds, or a number with ms, s or m. SIZE is bytes, or a number with K, M or G
  (1024-based: KB and KiB, MB and MiB, GB and GiB mean the same); at least 16M.

reload dev options: --listen, --ready-timeout, --drain-timeout (default 5s), --max-memory, --no-preload,
  --liveness-timeout (default off: a debugger paused at a breakpoint stops the event loop), and
  --watch PATH             what to watch, recursively (default: the current folder); repeat for more
  --ignore GLOB            what not to watch (always ignored: node_modules .* dist build coverage *.log)
  Type rs and Enter to reload by hand.

target (status, reload): --control PATH, --pid PID or --pid-file FILE; none needed when one keeper runs.
  reload reload --wait exits 0 once every worker runs the new code, 1 with the reason when the roll failed
  (--timeout TIME bounds the wait, default: the keeper's own limits). Without --wait, reload reload gives up
  after --timeout (default 10s); the keeper never runs a request it reads after its client gave up.
`
