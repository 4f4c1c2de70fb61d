import { defineConfig } from 'vitest/config';

// `npm run test:long`: long checks (soak, long outages, big volumes), outside `npm test` and CI's 15 minutes.
export default defineConfig({
  test: {
    include: ['test/long/**/*.long.ts'],
    pool: 'forks',
    testTimeout: 3_600_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/setup-logging.ts'],
  },
});
