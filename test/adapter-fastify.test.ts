import { adapterSuite } from './adapter-suite.js'

adapterSuite('fastify', { script: 'examples/fastify/server.js', reloads: 5 })
