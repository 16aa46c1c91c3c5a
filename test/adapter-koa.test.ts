import { adapterSuite } from './adapter-suite.js'

// The Koa variants are split over two files (here and adapter-koa-attach) so that they run side by side;
// together they are the Koa conformance suite.
const app = 'test/fixtures/koa-app.js'

adapterSuite('koa', [
  { name: 'examples/koa', script: 'examples/koa/server.js', reloads: 5 },
  { name: 'Koa 3, withReload(app).listen', script: app, env: { KOA: 'koa', MODE: 'reload' }, body: (pid) => `ospid:${pid} koa:3.3.0` }
])
