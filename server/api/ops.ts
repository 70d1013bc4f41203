// Operations: /healthz (chain, database, indexes), /metrics (Prometheus), /docs (OpenAPI).
import type { FastifyInstance } from "fastify";
import type { AppContext } from "./context.ts";
import { anyObject } from "./schemas.ts";

const HEALTH_TIMEOUT_MS = 3000;

async function probe<T>(run: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, value };
  } catch (e) {
    // Never echo connection strings or RPC URLs (they may carry credentials): the error class only.
    return {
      ok: false,
      error:
        (e as Error)?.message
          ?.split("\n")[0]
          ?.replace(/\w+:\/\/\S+/g, "<url>")
          .slice(0, 200) ?? "failed",
    };
  } finally {
    clearTimeout(timer);
  }
}

export async function opsRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;

  app.get(
    "/healthz",
    {
      schema: {
        summary: "Health: chain, database, datanet indexes (200 ok, 503 degraded)",
        tags: ["ops"],
        response: { 200: anyObject("{status: ok, checks}"), 503: anyObject("{status: degraded, checks}") },
      },
    },
    async (_request, reply) => {
      const [chain, database] = await Promise.all([
        probe(async () => {
          const blockNumber = await ctx.provider.getBlockNumber();
          return { blockNumber, chainId: ctx.chainId.toString() };
        }),
        probe(async () => {
          await ctx.ledger.getOutput("healthz-probe");
          return {};
        }),
      ]);
      const indexes = Object.fromEntries(ctx.datanets.ids().map((id) => [id, ctx.datanets.info(id)?.indexRoot ?? null]));
      const indexOk = Object.values(indexes).every((root) => root !== null);
      const halted = ctx.scheduler.haltedModels();
      const checks = {
        chain: chain.ok ? { ok: true, ...chain.value } : { ok: false, error: chain.error },
        database: database.ok ? { ok: true } : { ok: false, error: database.error },
        index: { ok: indexOk, datanets: indexes },
        epochs: { ok: Object.keys(halted).length === 0, halted },
      };
      const ok = checks.chain.ok && checks.database.ok && indexOk;
      reply.code(ok ? 200 : 503).header("Cache-Control", "no-store");
      return { status: ok ? "ok" : "degraded", checks };
    },
  );

  app.get("/metrics", { schema: { summary: "Prometheus metrics", tags: ["ops"], hide: false } }, async (_request, reply) => {
    reply.header("Content-Type", ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  app.get("/docs/json", { schema: { summary: "This OpenAPI document", tags: ["ops"] } }, async () => app.swagger());
  app.get("/docs", { schema: { hide: true } }, async () => app.swagger());
}
