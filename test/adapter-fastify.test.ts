import { adapterSuite } from './adapter-suite.js'

// The Fastify variants are split over two files (here and adapter-fastify-cjs) so that they run side by
// side; together they are the Fastify conformance suite.
adapterSuite('fastify', [
  { name: 'examples/fastify', script: 'examples/fastify/server.js', reloads: 5 }
])
