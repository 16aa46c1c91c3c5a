// Run as its own process by a generation that drains after a handover. It holds that generation's
// listening sockets without accepting on them, so that if the next generation dies before the drain is
// over, the drainer can take them back with nothing refused: the sockets, and the connections queued on
// them, never close. Its fds from 3 on are the sockets; an IPC channel to the drainer is its only input.
import { Socket } from 'node:net'
import { handleOf } from '../node/internals.js'

const fds = process.argv.slice(2).map(Number)

process.on('message', (message) => {
  if (message !== 'give') return
  for (const [i, fd] of fds.entries()) {
    // A stream wrap opened on the fd reads nothing and accepts nothing: it is only a handle to send.
    const socket = new Socket({ fd, readable: false, writable: false })
    process.send?.({ index: i }, handleOf(socket) as never)
  }
  process.send?.({ done: true })
})

// The drainer closes the channel when its drain is over, or dies: either way nothing is left to hold.
process.on('disconnect', () => process.exit(0))
