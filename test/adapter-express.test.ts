import { adapterSuite } from './adapter-suite.js'

// The Express variants are split over three files (here, adapter-express-attach, adapter-express-cjs) so
// that they run side by side; together they are the Express conformance suite.
const app = 'test/fixtures/express-app.js'

adapterSuite('express', [
  { name: 'examples/express (Express 5, withReload(app).listen)', script: 'examples/express/server.js', reloads: 5 },
  { name: 'Express 4, withReload(app).listen', script: app, env: { EXPRESS: 'express4', MODE: 'reload' }, body: (pid) => `ospid:${pid} express:4.22.3` }
])
