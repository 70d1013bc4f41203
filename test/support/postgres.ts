// vitest globalSetup: a real, throwaway PostgreSQL for the ledger tests (scripts/shared/postgres.ts).
// TEST_DATABASE_URL set -> that database is used as is; otherwise a private cluster is started and
// stopped and removed at teardown. Tests read the URL with inject("postgresUrl").
import type { TestProject } from "vitest/node";
import { startTestCluster } from "../../scripts/shared/postgres.ts";

export { MISSING_POSTGRES, findPostgresBin, startTestCluster } from "../../scripts/shared/postgres.ts";

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  if (process.env.TEST_DATABASE_URL) {
    project.provide("postgresUrl", process.env.TEST_DATABASE_URL);
    return;
  }
  const cluster = await startTestCluster();
  project.provide("postgresUrl", cluster.url);
  return cluster.stop;
}
