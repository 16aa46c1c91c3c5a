// Node's own cluster module: WORKERS (2) workers of bench/apps/http.mjs behind one primary, with Node's
// default scheduling (on Linux the primary accepts and hands connections round-robin to the workers).
// The keeper part's throughput baseline beside `reload run --workers 2` and PM2 in cluster mode.
import cluster from 'node:cluster'
import { pathToFileURL } from 'node:url'

if (cluster.isPrimary) {
  const workers = Math.max(1, Number(process.env.WORKERS ?? 2))
  const listening = new Set()
  cluster.on('listening', (worker, address) => {
    listening.add(worker.process.pid)
    if (listening.size === workers) {
      console.log(`cluster listening on http://${address.address}:${address.port} (pid ${process.pid}, workers ${[...listening].join(',')})`)
    }
  })
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers).length === 0) process.exit(0)
  })
  for (let i = 0; i < workers; i++) cluster.fork()
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.once(sig, () => { for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM') })
  }
} else {
  // CLUSTER_APP: another of these apps (the balance part's HTTP/2 and WebSocket ones).
  await import(process.env.CLUSTER_APP === undefined ? './http.mjs' : pathToFileURL(process.env.CLUSTER_APP).href)
}
