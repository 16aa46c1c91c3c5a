import { adapterSuite } from './adapter-suite.js'

adapterSuite('fastify', [
  { name: 'examples/fastify', script: 'examples/fastify/server.js', reloads: 5 },
  // The adapters ship ESM only; CommonJS apps load them with require(), which Node >= 20.19 supports.
  { name: 'CommonJS, app.register(require(\'@reload/fastify\'))', script: 'test/fixtures/fastify-cjs.cjs', env: { NODE_NO_WARNINGS: '1' } }
])
