import { afterEach, describe, expect, it } from 'vitest'
import { defaults, resolveOptions } from '../src/generation/options.js'
import { ReloadError } from '../src/errors.js'

describe('resolveOptions()', () => {
  afterEach(() => {
    delete process.env.RELOAD_READY_TIMEOUT
    delete process.env.RELOAD_DRAIN_TIMEOUT
  })

  it('fills every gap from the exported defaults', () => {
    expect(resolveOptions()).toEqual({ ...defaults, idleGrace: undefined, pidFile: undefined, logger: undefined, cwd: undefined })
    expect(defaults).toEqual({
      signal: 'SIGHUP', shutdownSignals: ['SIGTERM', 'SIGINT'], readyTimeout: 60_000, drainTimeout: 30_000, shutdownDelay: 0, goAwayWindow: 1000, autoReady: true, exit: true
    })
  })

  it('keeps an explicit 0 and false', () => {
    const o = resolveOptions({ drainTimeout: 0, idleGrace: 0, signal: false, shutdownSignals: false, autoReady: false })
    expect([o.drainTimeout, o.idleGrace, o.signal, o.shutdownSignals, o.autoReady]).toEqual([0, 0, false, false, false])
  })

  it.each([
    [{ readyTimeout: 0 }, 'readyTimeout option should be a number of milliseconds >= 1 (Infinity for no limit), instead got 0'],
    [{ drainTimeout: -1 }, 'drainTimeout option should be a number of milliseconds >= 0 (Infinity for no limit), instead got -1'],
    [{ drainTimeout: '30s' }, "drainTimeout option should be a number of milliseconds >= 0 (Infinity for no limit), instead got '30s'"],
    [{ idleGrace: Number.NaN }, 'idleGrace option should be a number of milliseconds >= 0 (Infinity for no limit), instead got NaN'],
    [{ readyTimeout: -Infinity }, 'readyTimeout option should be a number of milliseconds >= 1 (Infinity for no limit), instead got -Infinity'],
    [{ signal: 'HUP' }, "signal option should be a signal name such as 'SIGHUP' (not SIGKILL or SIGSTOP), or false, instead got 'HUP'"],
    [{ signal: 'SIGKILL' }, "signal option should be a signal name such as 'SIGHUP' (not SIGKILL or SIGSTOP), or false, instead got 'SIGKILL'"],
    [{ signal: 'SIGTERM' }, "signal option should be a signal that is not also a shutdown signal (SIGTERM, SIGINT): one signal cannot both reload and stop, instead got 'SIGTERM'"],
    [{ shutdownSignals: ['SIGSTOP'] }, "shutdownSignals option should be an array of signal names such as ['SIGTERM'] (not SIGKILL or SIGSTOP), or false, instead got [\"SIGSTOP\"]"],
    [{ shutdownSignals: 'SIGTERM' }, "shutdownSignals option should be an array of signal names such as ['SIGTERM'] (not SIGKILL or SIGSTOP), or false, instead got 'SIGTERM'"],
    [{ shutdownDelay: 5000, drainTimeout: 5000 }, 'shutdownDelay option should be shorter than drainTimeout (5000 ms), the budget it is part of, instead got 5000'],
    [{ autoReady: 'yes' }, "autoReady option should be a boolean, instead got 'yes'"],
    [{ pidFile: '' }, "pidFile option should be a non-empty path, instead got ''"],
    [{ logger: { info () {} } }, 'logger option should be a logger with info, warn and error methods, console, or false, instead got {}'],
    [{ readyTimeot: 5 }, 'readyTimeot option should be one of signal, shutdownSignals, readyTimeout, drainTimeout, idleGrace, shutdownDelay, goAwayWindow, autoReady, pidFile, logger, exit, cwd (unknown option), instead got 5']
  ])('%o throws ERR_RELOAD_INVALID_OPTION', (options, message) => {
    let error: unknown
    try { resolveOptions(options as never) } catch (err) { error = err }
    expect(error).toBeInstanceOf(ReloadError)
    expect(error).toMatchObject({ name: 'ReloadError', code: 'ERR_RELOAD_INVALID_OPTION', message })
  })

  it('takes Infinity and values beyond a timer\'s range as "no limit", and SIGTERM as the reload signal when it is no shutdown signal', () => {
    const o = resolveOptions({ readyTimeout: Infinity, drainTimeout: 3e9, idleGrace: 1e12, signal: 'SIGTERM', shutdownSignals: ['SIGINT'] })
    expect([o.readyTimeout, o.drainTimeout, o.idleGrace, o.signal]).toEqual([Infinity, 3e9, 1e12, 'SIGTERM'])
    process.env.RELOAD_DRAIN_TIMEOUT = 'Infinity'
    expect(resolveOptions().drainTimeout).toBe(Infinity)
  })

  it('takes times from the environment, below options set in code', () => {
    process.env.RELOAD_READY_TIMEOUT = '1500'
    process.env.RELOAD_DRAIN_TIMEOUT = '250'
    expect(resolveOptions().readyTimeout).toBe(1500)
    expect(resolveOptions({ drainTimeout: 900 }).drainTimeout).toBe(900)
    expect(resolveOptions().drainTimeout).toBe(250)
  })

  it('names the variable when the environment holds a bad time', () => {
    process.env.RELOAD_READY_TIMEOUT = 'soon'
    expect(() => resolveOptions()).toThrow("readyTimeout (from RELOAD_READY_TIMEOUT) option should be a number of milliseconds >= 1 (Infinity for no limit), instead got 'soon'")
  })
})
