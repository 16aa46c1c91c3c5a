import { adapterSuite } from './adapter-suite.js'

// Part of the Koa conformance suite (see adapter-koa.test.ts).
const app = 'test/fixtures/koa-app.js'

adapterSuite('koa', [
  { name: 'Koa 2, withReload(app).listen', script: app, env: { KOA: 'koa2', MODE: 'reload' }, body: (pid) => `ospid:${pid} koa:2.16.4` },
  { name: 'Koa 3, http.createServer(app.callback()) + attach(server)', script: app, env: { KOA: 'koa', MODE: 'attach' }, body: (pid) => `ospid:${pid} koa:3.3.0` }
])
