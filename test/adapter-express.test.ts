import { adapterSuite } from './adapter-suite.js'

const app = 'test/fixtures/express-app.js'

adapterSuite('express', [
  { name: 'examples/express (Express 5, withReload(app).listen)', script: 'examples/express/server.js', reloads: 5 },
  { name: 'Express 4, withReload(app).listen', script: app, env: { EXPRESS: 'express4', MODE: 'reload' }, body: (pid) => `ospid:${pid} express:4.22.3` },
  { name: 'Express 5, http.createServer(app) + attach', script: app, env: { EXPRESS: 'express', MODE: 'attach' }, body: (pid) => `ospid:${pid} express:5.3.0` },
  { name: 'Express 5, https.createServer(tls, app) + attach', script: app, env: { EXPRESS: 'express', MODE: 'https' }, tls: true, body: (pid) => `ospid:${pid} express:5.3.0` },
  // The adapters ship ESM only; CommonJS apps load them with require(), which Node >= 20.19 supports.
  { name: 'CommonJS, require(\'@reload/express\')', script: 'test/fixtures/express-cjs.cjs', env: { NODE_NO_WARNINGS: '1' } }
])
