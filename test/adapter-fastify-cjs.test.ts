import { adapterSuite } from './adapter-suite.js'

// Part of the Fastify conformance suite (see adapter-fastify.test.ts).
adapterSuite('fastify', [
  // The adapters ship ESM only; CommonJS apps load them with require(), which Node >= 20.19 supports.
  { name: 'CommonJS, app.register(require(\'@reload/fastify\'))', script: 'test/fixtures/fastify-cjs.cjs', env: { NODE_NO_WARNINGS: '1' } }
])
