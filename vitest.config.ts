import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own in-memory dynalite; two workers fit the 2-core machines.
    maxWorkers: 2,
  },
});
