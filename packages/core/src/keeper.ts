// Internal and unstable: what `reload run` (the @reload/cli keeper) shares with a generation (the protocol
// that starts a worker, the fd names, the link's messages, the sockets a keeper binds). Not for apps: its
// shape follows @reload/cli's needs and may change in any release.
export { holdGeneration as holdWorker, spawnGeneration as spawnWorker, startCwd, type Child, type HeldChild, type SpawnOptions } from './protocol/child.js'
export { commandWrapper } from './protocol/launch.js'
export { decodeName, encodeName, takeInheritance, LISTEN_FDS_START, type FdAddress, type InheritedFd } from './protocol/fds.js'
export { bindSocket, type BoundSocket } from './node/internals.js'
export { isStaleSocket, removeSocket } from './listen/unix.js'
export { writePidFile, removePidFile } from './generation/pidfile.js'
export { ReloadError, type ReloadErrorCode } from './errors.js'
export { later, delay, type Later } from './node/timers.js'
export { decodeChild, decodeHandoff, encodeParent, HANDOFF_PREFIX, LineReader, type ChildMessage, type HandoffMessage, type ParentMessage } from './protocol/link.js'
export { stderrLogger, type Logger } from './log.js'
export { checkInternals, handleOf, hasInternalChannel, onInternal, sendInternal, type Channel } from './node/internals.js'
