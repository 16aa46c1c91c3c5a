// Node's own modules that only some paths need (a handover's spawn, a host name to look up, a temporary
// name), loaded the first time they are: each one loaded at start costs every worker's start up to 3 ms
// (node:child_process) on the way to its first answer. process.getBuiltinModule (Node 20.16 and 22.3)
// rather than a createRequire(): node:module alone took 0.5 to 1 ms of a start on Node 20.
const load = <T>(id: string): T => process.getBuiltinModule(id) as T

export const childProcess = (): typeof import('node:child_process') => load('node:child_process')
export const dns = (): typeof import('node:dns') => load('node:dns')
export const crypto = (): typeof import('node:crypto') => load('node:crypto')
