import { configDefaults, defineConfig } from 'vitest/config'

// Every Node process the tests start (workers, servers, each new generation, keepers, the cli) reads
// NODE_EXTRA_CA_CERTS at start-up: with a system bundle there (as on CI machines that reach the registry
// through a proxy) that is about 80 ms of CPU each, a fifth of the whole run. No test talks to anything
// but 127.0.0.1 with its own certificate, so the tests' processes go without it.
delete process.env.NODE_EXTRA_CA_CERTS

// Tests that measure how much gets done in a fixed time: not among the integration tests (see 'unit').
const quiet = ['test/longlived/http2-churn.test.ts']
// Real frameworks installed from the registry: their own command, `pnpm test:frameworks` (vitest.frameworks.config.ts).
const frameworks = ['test/frameworks/**']

const integration = {
  // Every test starts real processes and much of the time waits on them (timers, handovers, drains): on
  // two cores, eight files at a time keep both busy (measured: 136 s at six, 110 to 116 s at eight).
  maxWorkers: 8,
  // A worker runs one file after another in the same process: starting a fresh one per file cost about a
  // CPU-second each. Each file kills what it started (closeAll) in afterEach.
  isolate: false,
  testTimeout: 60_000,
  hookTimeout: 20_000
}

export default defineConfig({
  test: {
    reporters: ['default', 'json'],
    outputFile: { json: process.env.RELOAD_TEST_REPORT ?? 'test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          // The tests that measure how much gets done in a fixed time run here, alongside the unit tests,
          // which use little CPU, rather than among the integration tests.
          include: ['packages/*/test/**/*.test.ts', ...quiet],
          maxWorkers: 2,
          testTimeout: 20_000
        }
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...quiet, ...frameworks],
          ...integration
        }
      }
    ]
  }
})
