import { adapterSuite } from './adapter-suite.js'

// Part of the Express conformance suite (see adapter-express.test.ts).
adapterSuite('express', [
  // The adapters ship ESM only; CommonJS apps load them with require(), which Node >= 20.19 supports.
  { name: 'CommonJS, require(\'@reload/express\')', script: 'test/fixtures/express-cjs.cjs', env: { NODE_NO_WARNINGS: '1' } }
])
