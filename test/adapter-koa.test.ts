import { adapterSuite } from './adapter-suite.js'

adapterSuite('koa', { script: 'examples/koa/server.js', reloads: 5 })
