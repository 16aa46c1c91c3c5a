import { describe, expect, it } from 'vitest'
import { afterExit, backoff, BACKOFF_CAP, newSlots, STABLE } from '../src/slots.js'
import { canMove, ending, isStopping, moveTo, newWorker, type WorkerState } from '../src/worker.js'

function worker () {
  return newWorker({ slot: 1, generation: 1, pid: 4242, process: undefined as never, started: 0 })
}

describe("a keeper's worker: its transition table", () => {
  it('starting → ready → draining → exited, and nothing back', () => {
    const states: WorkerState[] = ['starting', 'ready', 'draining', 'exited']
    const allowed = states.flatMap((from) => states.filter((to) => canMove(from, to)).map((to) => `${from}→${to}`))
    expect(allowed).toEqual(['starting→ready', 'starting→draining', 'starting→exited', 'ready→draining', 'ready→exited', 'draining→exited'])
  })

  it('a move the table lacks throws; moving to where it is changes nothing', () => {
    const w = worker()
    moveTo(w, 'ready')
    moveTo(w, 'ready')
    expect(w.state).toBe('ready')
    moveTo(w, 'draining', 'roll')
    expect(() => moveTo(w, 'ready')).toThrow(/no move from draining to ready/)
    moveTo(w, 'exited')
    expect(() => moveTo(w, 'draining')).toThrow(/no move from exited to draining/)
  })

  it('draining keeps its first cause: a worker rolled, then killed, was rolled', () => {
    const w = worker()
    moveTo(w, 'ready')
    expect(isStopping(w)).toBe(false)
    moveTo(w, 'draining', 'roll')
    moveTo(w, 'draining', 'killed')
    expect(w.cause).toBe('roll')
    expect(isStopping(w)).toBe(true)
  })

  it('says how a stopped worker ended, and whether that was clean', () => {
    const w = worker()
    expect(ending(w, 143, null)).toEqual({ text: 'exited with code 143 before draining', clean: false, end: 'exited' })
    expect(ending(w, null, 'SIGTERM')).toMatchObject({ clean: false, end: 'exited' })
    expect(ending(w, 0, null)).toEqual({ text: 'exited with code 0', clean: true, end: 'drained' })
    w.drained = { requests: 0, connections: 0 }
    expect(ending(w, 0, null)).toEqual({ text: 'drained and exited', clean: true, end: 'drained' })
    w.drained = { requests: 3, connections: 2 }
    expect(ending(w, 1, null)).toEqual({ text: 'cut 3 requests at the drain timeout and exited', clean: false, end: 'cut' })
    w.killed = 'as unresponsive'
    expect(ending(w, null, 'SIGKILL')).toEqual({ text: 'was killed as unresponsive', clean: false, end: 'killed' })
  })
})

describe('slots and their backoff (a fake clock: lifetimes are given, not waited for)', () => {
  it('0 for the first exit, then 250 ms doubling, capped', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map(backoff)).toEqual([0, 250, 500, 1000, 2000, 4000, 8000, BACKOFF_CAP, BACKOFF_CAP])
  })

  it('a worker that lived STABLE ms or more starts the count anew', () => {
    let crashes = 0
    const waits: number[] = []
    for (const lived of [100, 100, 100, STABLE, 100]) {
      const next = afterExit(crashes, lived)
      crashes = next.crashes
      waits.push(next.wait)
    }
    expect(waits).toEqual([0, 250, 500, 0, 250])
  })

  it('slots are numbered from 1 and start empty', () => {
    expect(newSlots(3).map((s) => [s.index, s.current, s.restarts])).toEqual([[1, undefined, 0], [2, undefined, 0], [3, undefined, 0]])
  })
})
