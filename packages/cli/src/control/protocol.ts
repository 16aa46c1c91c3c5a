// The control socket's protocol: one line of JSON each way, except that a `wait` reload is first
// acknowledged with {"accepted":true}.

/** A request: {"command":"status"} or {"command":"reload","wait":true,"deadline":<epoch ms>}. */
export interface Request {
  command: 'status' | 'reload'
  wait?: boolean
  /** When the client gives up (epoch ms): the keeper does not run a request it reads after that. */
  deadline?: number
}

// Past this the keeper refuses control connections (the app's sockets are the workers', not counted).
export const MAX_CONNECTIONS = 64
