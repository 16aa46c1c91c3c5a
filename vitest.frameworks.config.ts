import { defineConfig } from 'vitest/config'

// The production servers of popular frameworks, installed from the npm registry and built by
// test/frameworks/setup.ts, under `reload run` with no reload code in them.
export default defineConfig({
  test: {
    reporters: ['default', 'json'],
    outputFile: { json: process.env.RELOAD_TEST_REPORT ?? 'test-results/frameworks.json' },
    include: ['test/frameworks/**/*.test.ts'],
    globalSetup: ['test/frameworks/setup.ts'],
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 30_000
  }
})
