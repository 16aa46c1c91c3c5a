import { Socket } from 'node:net'
import { debug } from './log.js'

/**
 * Writes one line of the readiness protocol (`READY=1`, or `ERROR=<why>`) to the parent over the socket
 * it passed, then closes it. A parent that has gone away is not an error of ours.
 */
export function tellParent (fd: number, line: string): Promise<void> {
  return new Promise((resolve) => {
    let socket: Socket
    try {
      socket = new Socket({ fd, readable: false, writable: true })
    } catch (err) {
      debug('ready fd %d unusable: %s', fd, err)
      resolve()
      return
    }
    socket.on('error', (err) => { debug('telling parent: %s', err); resolve() })
    socket.end(`${line.replace(/\n/g, ' ')}\n`, () => { socket.destroy(); resolve() })
  })
}
