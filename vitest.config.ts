import { defineConfig } from 'vitest/config'

// Every Node process the tests start (workers, servers, each new generation, keepers, the cli) reads
// NODE_EXTRA_CA_CERTS at start-up: with a system bundle there (as on machines that reach the registry
// through a proxy) that is about 85 ms of CPU each, against 45 ms for the whole start without it. No test
// talks to anything but 127.0.0.1 (with its own certificate), so the tests' processes go without it.
delete process.env.NODE_EXTRA_CA_CERTS

export default defineConfig({
  test: {
    reporters: ['default', 'json'],
    outputFile: { json: process.env.RELOAD_TEST_REPORT ?? 'test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['packages/*/test/**/*.test.ts'],
          testTimeout: 20_000
        }
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.test.ts'],
          // Every test starts real processes; the machine has two cores.
          maxWorkers: 2,
          testTimeout: 60_000,
          hookTimeout: 20_000
        }
      }
    ]
  }
})
