import { adapterSuite } from './adapter-suite.js'

adapterSuite('node:http', [
  { name: 'examples/http', script: 'examples/http/server.js', reloads: 10 }
])
