import { createRequire } from 'node:module'

// Node's own modules that only some paths need (a handover's spawn, a host name to look up, a temporary
// name), loaded the first time they are: each one loaded at start costs every worker's start up to 3 ms
// (node:child_process) on the way to its first answer.
const load = createRequire(import.meta.url)

export const childProcess = (): typeof import('node:child_process') => load('node:child_process') as typeof import('node:child_process')
export const dns = (): typeof import('node:dns') => load('node:dns') as typeof import('node:dns')
export const crypto = (): typeof import('node:crypto') => load('node:crypto') as typeof import('node:crypto')
