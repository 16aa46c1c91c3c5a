export { main } from './main.js'
export { parseArgs, parseAddress, parseTime, type Address, type Command, type RunOptions } from './args.js'
export type { KeeperStatus, RollRecord, RollResult, SlotStatus, WorkerStatus } from './keeper-status.js'
