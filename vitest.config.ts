import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    globalSetup: ["test/support/postgres.ts"], // a throwaway PostgreSQL for the ledger tests (or TEST_DATABASE_URL)
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each test file gets its own in-process chain; two cores on CI, keep the pool small.
    pool: "forks",
    maxWorkers: 2,
  },
});
