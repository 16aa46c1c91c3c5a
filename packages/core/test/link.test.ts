import { describe, expect, it } from 'vitest'
import { decodeChild, decodeHandoff, decodeParent, encodeChild, encodeParent, LineReader, type ChildMessage, type ParentMessage } from '../src/protocol/link.js'

describe('the link codec', () => {
  const children: ChildMessage[] = [
    { type: 'liveness' },
    { type: 'ready' },
    { type: 'error', reason: 'listen failed: EADDRINUSE' },
    { type: 'stopping' },
    { type: 'notAccepting' },
    { type: 'drained', requests: 2, connections: 5 },
    { type: 'status', requests: 1, connections: 3, state: 'ready', served: 120, heap: 7340032 },
    { type: 'status', requests: 0, connections: 0, state: 'draining', served: undefined, heap: undefined },
    { type: 'pong' },
    { type: 'handoff', listeners: [0, 2] },
    { type: 'holds' }
  ]
  it('every child message reads back as it was written, on one line', () => {
    for (const message of children) {
      const line = encodeChild(message)
      expect(line).not.toMatch(/\n/)
      expect(decodeChild(line)).toEqual(message)
    }
  })

  it('writes the lines older keepers and generations know', () => {
    expect(children.map(encodeChild).slice(0, 7)).toEqual([
      'LIVENESS=1', 'READY=1', 'ERROR=listen failed: EADDRINUSE', 'STOPPING=1', 'ACCEPTING=0',
      'DRAINED requests=2 connections=5', 'STATUS requests=1 connections=3 state=ready served=120 heap=7340032'
    ])
    // An older worker's STATUS, without served= and heap=.
    expect(decodeChild('STATUS requests=4 connections=2 state=ready')).toEqual({ type: 'status', requests: 4, connections: 2, state: 'ready', served: undefined, heap: undefined })
  })

  it('an error reason with line breaks stays one line', () => {
    expect(encodeChild({ type: 'error', reason: 'Error: boom\n    at main (app.js:1:1)' })).toBe('ERROR=Error: boom     at main (app.js:1:1)')
  })

  it('a line it does not know is undefined, never a guess', () => {
    for (const line of ['', 'READY=0', 'HELLO', 'STATUS', 'DRAINED requests=x connections=1', 'STATUS connections=1', 'PING']) {
      expect(decodeChild(line)).toBeUndefined()
    }
    for (const line of ['', 'PONG', 'STATUS requests=1', 'drain']) expect(decodeParent(line)).toBeUndefined()
  })

  it('every keeper message reads back as it was written', () => {
    const parents: ParentMessage[] = [{ type: 'status' }, { type: 'ping' }, { type: 'drain' }]
    expect(parents.map(encodeParent)).toEqual(['STATUS', 'PING', 'DRAIN'])
    for (const message of parents) expect(decodeParent(encodeParent(message))).toEqual(message)
  })
})

describe('the handoff messages', () => {
  it('reads the kinds a keeper and its worker send on the IPC channel, and nothing else', () => {
    expect(encodeChild({ type: 'handoff', listeners: [0, 1] })).toBe('HANDOFF=0,1')
    expect(decodeHandoff({ cmd: 'NODE_RELOAD_CONN', id: 3, listener: 0 })).toEqual({ cmd: 'NODE_RELOAD_CONN', id: 3, listener: 0 })
    expect(decodeHandoff({ cmd: 'NODE_RELOAD_TOOK', id: 3, open: 5 })).toEqual({ cmd: 'NODE_RELOAD_TOOK', id: 3, open: 5 })
    expect(decodeHandoff({ cmd: 'NODE_RELOAD_NACK', id: 3 })).toEqual({ cmd: 'NODE_RELOAD_NACK', id: 3 })
    expect(decodeHandoff({ cmd: 'NODE_RELOAD_OPEN', id: 0, open: 2 })).toEqual({ cmd: 'NODE_RELOAD_OPEN', id: 0, open: 2 })
    expect(decodeHandoff({ cmd: 'NODE_RELOAD_SHED', id: 0, count: 8 })).toEqual({ cmd: 'NODE_RELOAD_SHED', id: 0, count: 8 })
    for (const message of [{ cmd: 'NODE_RELOAD_CONN', id: 3 }, { cmd: 'NODE_RELOAD_TOOK', id: 3 }, { cmd: 'NODE_RELOAD_SHED', id: 0 }, { cmd: 'NODE_RELOAD_CONN', id: '3', listener: 0 }, { cmd: 'NODE_HANDLE_ACK', id: 1 }]) {
      expect(decodeHandoff(message)).toBeUndefined()
    }
  })
})

describe('LineReader', () => {
  it('cuts lines across chunks and keeps a partial line for the next chunk', () => {
    const lines: string[] = []
    const reader = new LineReader((line) => lines.push(line))
    reader.push('READY')
    reader.push('=1\nPO')
    expect(lines).toEqual(['READY=1'])
    reader.push('NG\n\nSTOPPING=1\n')
    expect(lines).toEqual(['READY=1', 'PONG', '', 'STOPPING=1'])
  })

  it('drops a partial line longer than its limit, and reads on after it', () => {
    const lines: string[] = []
    const reader = new LineReader((line) => lines.push(line), 10)
    reader.push('x'.repeat(11))
    reader.push('PONG\n')
    expect(lines).toEqual(['PONG'])
  })
})
