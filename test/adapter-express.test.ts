import { adapterSuite } from './adapter-suite.js'

adapterSuite('express', { script: 'examples/express/server.js', reloads: 5 })
