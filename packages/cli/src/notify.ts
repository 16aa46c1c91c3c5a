import { spawn } from 'node:child_process'

// sd_notify(3) for the keeper, for Type=notify and Type=notify-reload units. Node has no unix datagram
// sockets, so each message goes through systemd-notify(1), started as a direct child of the keeper:
// - systemd-notify sends the message as its parent (the keeper, the unit's main pid) when it may (root),
//   else as itself, which systemd accepts only with NotifyAccess=all.
// - It then waits (BARRIER=1, systemd >= 246) until systemd has processed the message, so it is still alive
//   and attributable to the unit when systemd reads it: the race of a short-lived sender is closed.
// - One message at a time, in order: each waits for the systemd-notify before it to exit.
// See examples/systemd/README.md for the sources.
//
// When the keeper calls it (each call after the previous one, in this order of events):
// 1. `notify('READY=1\nSTATUS=…')` once every first worker is ready: in main.ts `run()`, right after
//    `await keeper.start()` resolves (where `ready = true` is set). Never earlier: systemd then treats the
//    unit as started and may send ReloadSignal (SIGHUP) or start units ordered after it. Never when the first
//    start fails (the keeper exits 1, and systemd sees the start fail).
// 2. `notify('RELOADING=1\nSTATUS=rolling over to generation N')` when a roll begins: at the top of
//    `Keeper.#rollOnce()`, after the generation is incremented, whatever asked for it (SIGHUP, systemd's
//    ReloadSignal, `reload reload`). Not in the SIGHUP handler: a SIGHUP during a roll queues one more roll,
//    and systemd must see that roll's RELOADING=1 after the READY=1 that ends the current one.
//    MONOTONIC_USEC= is added here (CLOCK_MONOTONIC, now): Type=notify-reload ignores RELOADING=1 without it.
// 3. `notify('READY=1\nSTATUS=generation N serves (pids …)')` when that roll succeeded, and
//    `notify('READY=1\nSTATUS=reload failed: …')` when it failed (ERR_RELOAD_ROLL_FAILED): the service serves
//    either way (on the previous code after a failure). Without READY=1, a notify-reload reload hangs.
//    After ERR_RELOAD_ABORTED (a shutdown began), nothing: STOPPING=1 is on its way.
// 4. `notify('STOPPING=1')` when the shutdown begins: the first SIGTERM/SIGINT (main.ts `onStop`, or the
//    first call of `Keeper.shutdown()`), before the shutdown delay.
// Optionally `notify('STATUS=…')` when a worker crashes or serves again (`systemctl status` shows it).

// Taken once, when the keeper loads this module (before its first worker starts), and removed from the
// environment, as sd_notify(unset_environment=1) does: workers and their children must not talk to the
// keeper's service manager. Under NotifyAccess=all systemd would accept their READY=1, MAINPID= or
// STOPPING=1 (which stops the whole unit) as the service's own.
const socket = process.env.NOTIFY_SOCKET
Reflect.deleteProperty(process.env, 'NOTIFY_SOCKET')

// systemd-notify waits 5 s at most for its barrier; past this, it is stuck and is killed.
const TIMEOUT = 10_000

let queue: Promise<void> = Promise.resolve()

/**
 * Sends `state` (newline-separated `NAME=value` assignments, as sd_notify(3) takes) to the service manager,
 * and resolves once systemd-notify has exited (after systemd processed the message, on systemd >= 246).
 * A no-op when NOTIFY_SOCKET was unset. Never rejects, never throws, logs nothing: a missing systemd-notify
 * or a refused message shows in systemd's own log, and the unit then fails to start in TimeoutStartSec.
 */
export function notify (state: string): Promise<void> {
  if (socket === undefined || socket === '') return Promise.resolve()
  // A line that is not an assignment (or would read as an option) is dropped, not sent half-parsed.
  const fields = state.split('\n').filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
  if (fields.length === 0) return Promise.resolve()
  if (fields.includes('RELOADING=1') && !fields.some((f) => f.startsWith('MONOTONIC_USEC='))) {
    // process.hrtime is CLOCK_MONOTONIC (libuv's uv_hrtime), what systemd compares with its reload start.
    fields.push(`MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`)
  }
  const sent = queue.then(() => send(fields, socket))
  queue = sent
  return sent
}

function send (fields: string[], notifySocket: string): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    try {
      // No shell, no detaching: the keeper must be systemd-notify's parent. `--` ends its options.
      const child = spawn('systemd-notify', ['--', ...fields], {
        stdio: 'ignore',
        env: { ...process.env, NOTIFY_SOCKET: notifySocket }
      })
      child.once('error', done)
      child.once('exit', done)
      timer = setTimeout(() => { child.kill('SIGKILL') }, TIMEOUT)
      timer.unref()
    } catch {
      done()
    }
  })
}
