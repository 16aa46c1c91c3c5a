import { adapterSuite } from './adapter-suite.js'

// Part of the Express conformance suite (see adapter-express.test.ts): the variants that attach to a server.
const app = 'test/fixtures/express-app.js'

adapterSuite('express', [
  { name: 'Express 5, http.createServer(app) + attach', script: app, env: { EXPRESS: 'express', MODE: 'attach' }, body: (pid) => `ospid:${pid} express:5.3.0` },
  { name: 'Express 5, https.createServer(tls, app) + attach', script: app, env: { EXPRESS: 'express', MODE: 'https' }, tls: true, body: (pid) => `ospid:${pid} express:5.3.0` }
])
