import { adapterSuite } from './adapter-suite.js'

adapterSuite('node:http', { script: 'examples/http/server.js', reloads: 10 })
