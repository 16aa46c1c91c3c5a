import { defineConfig } from 'vitest/config'

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
