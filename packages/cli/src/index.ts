export { main } from './main.js'
export { parseArgs, parseAddress, parseTime, type Address, type Command, type RunOptions } from './args.js'
export { backoff, type KeeperStatus, type RollResult, type WorkerStatus } from './keeper.js'
