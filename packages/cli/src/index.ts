export { main } from './main.js'
export { parseArgs, type Address, type Command, type RunOptions } from './args.js'
export { parseAddress, parseTime } from './values.js'
export type { KeeperStatus, RollRecord, RollResult, SlotStatus, WorkerStatus } from './keeper-status.js'
