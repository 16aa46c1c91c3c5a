import { describe, expect, it } from 'vitest'
import * as core from '../src/index.js'

describe('@reload/core exports', () => {
  it('export reloader() and no Reloader constructor: a second instance would find no listener to inherit', () => {
    expect(Object.keys(core).sort()).toEqual(['ReloadError', 'defaults', 'eventStream', 'reloader', 'trackSocketIO', 'trackWebSockets'])
  })
})
