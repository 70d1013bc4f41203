// The dashboard: static pages (server/dashboard/public, plain HTML/CSS/JS, no build step) and
// two JSON endpoints they poll:
//   GET /dashboard/api/summary       models, totals, payments/revenue series, top contributors,
//                                    the newest epochs, recent outputs
//   GET /dashboard/api/outputs/:id   one output: text cut into attributed pieces, record, payment
// Figures the public API also serves (models, epochs, a contributor's earnings and claims) are
// taken from that API (through `inject`), so the page and the API cannot disagree.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import fastifyStatic from "@fastify/static";
import { getAddress } from "ethers";
import { parseRecord } from "../attribution/index.ts";
import type { AppContext } from "../api/context.ts";
import { DashboardFeed } from "./feed.ts";
import { highlightOutput } from "./highlight.ts";
import { attributionPath, contributorPath } from "../util/urls.ts";

const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), "public");

export interface DashboardOptions {
  ctx: AppContext;
  /** Calls the model host's own API (e.g. server.app.inject) for figures it serves. */
  inject(path: string): Promise<LightMyRequestResponse>;
  /** Series window and bucket (default: last 3 minutes, 1-second buckets). */
  windowMs?: number;
  bucketMs?: number;
  topContributors?: number;
}

const BYTES32 = /^(0x)?[0-9a-fA-F]{64}$/;
const SUMMARY_TTL_MS = 500;
/** Epochs the summary lists (the newest; `totals.epochs` counts them all). */
const SUMMARY_EPOCHS = 20;

class NotFound extends Error {}

export async function dashboardRoutes(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const { ctx } = opts;
  const windowMs = opts.windowMs ?? 180_000;
  const bucketMs = opts.bucketMs ?? 1000;
  const feed = new DashboardFeed(ctx.ledger, windowMs, Date.now, bucketMs);
  const topN = opts.topContributors ?? 10;

  const api = async <T>(path: string): Promise<T> => {
    const res = await opts.inject(path);
    if (res.statusCode === 404) throw new NotFound(path);
    if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`);
    return res.json() as T;
  };

  await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: "/dashboard/", index: false, maxAge: 0, cacheControl: false });
  app.get("/", (_request, reply) => reply.header("Cache-Control", "no-cache").sendFile("index.html"));
  app.get("/outputs/:id", (_request, reply) => reply.header("Cache-Control", "no-cache").sendFile("output.html"));

  // One summary per SUMMARY_TTL_MS whatever the number of open pages.
  let cached: { at: number; body: Promise<unknown> } | null = null;
  app.get("/dashboard/api/summary", async (_request, reply) => {
    reply.header("Cache-Control", "no-store");
    const now = Date.now();
    if (!cached || now - cached.at > SUMMARY_TTL_MS) {
      const body = summary();
      cached = { at: now, body };
      body.catch(() => (cached = null));
    }
    return cached.body;
  });

  async function summary() {
    await feed.refresh();
    const now = Date.now();
    const [models, epochs, blockNumber] = await Promise.all([
      api<{ data: Array<Record<string, unknown> & { id: string; owned_by: string }> }>("/v1/models"),
      newestEpochs(),
      ctx.provider.getBlockNumber().catch(() => null),
    ]);
    const [totals, outputs, recent] = await Promise.all([feed.totals(), feed.outputsByContributor(), feed.recent(15)]);
    const perModel = totals.byModel;
    const owners = new Set(models.data.map((m) => getAddress(m.owned_by)));

    // Rank contributors by what posted epochs gave them, then by outputs crediting them.
    // Cumulative leaves: each splitter's newest epoch that is not vetoed holds every account's total.
    const earned = new Map<string, bigint>();
    const newest = await Promise.all(payeeSplitters().map((splitter) => ctx.ledger.latestEpochSummary(splitter, "not_vetoed")));
    for (const e of newest) {
      if (!e) continue;
      for (const leaf of await ctx.ledger.listEpochClaims(e.splitter, e.epoch)) {
        const address = getAddress(leaf.account);
        earned.set(address, (earned.get(address) ?? 0n) + BigInt(leaf.cumulativeAmount));
      }
    }
    const candidates = [...new Set([...outputs.keys(), ...earned.keys()])].filter((a) => !owners.has(a));
    candidates.sort((a, b) => {
      const ea = earned.get(a) ?? 0n;
      const eb = earned.get(b) ?? 0n;
      if (ea !== eb) return ea > eb ? -1 : 1;
      const oa = outputs.get(a) ?? 0;
      const ob = outputs.get(b) ?? 0;
      return oa !== ob ? ob - oa : a < b ? -1 : 1;
    });
    const top = await Promise.all(
      candidates.slice(0, topN).map(async (address) => {
        const c = await api<{ totals: { earned: string; claimed: string; claimable: string; pending: string } }>(contributorPath(address));
        return { address, outputs: outputs.get(address) ?? 0, ...c.totals };
      }),
    );

    return {
      now,
      network: ctx.network,
      chainId: ctx.chainId.toString(),
      blockNumber,
      token: ctx.token,
      totals: {
        payments: totals.payments,
        revenue: totals.revenue.toString(),
        contributorsCredited: [...outputs.keys()].filter((a) => !owners.has(a)).length,
        epochs: epochs.total,
      },
      models: models.data.map((m) => ({
        ...m,
        payments: perModel.get(m.id)?.payments ?? 0,
        revenue: (perModel.get(m.id)?.revenue ?? 0n).toString(),
      })),
      series: { bucketMs, windowMs, points: feed.series(now, totals.revenue) },
      contributors: top,
      epochs: epochs.epochs,
      recent: recent.map((p) => {
        const lead = [...p.contributors].sort((a, b) => b.ppm - a.ppm)[0] ?? null;
        return {
          outputId: p.outputId,
          model: p.model,
          amount: p.amount.toString(),
          at: p.at,
          txHash: p.txHash,
          contributors: p.contributors.length,
          lead,
          unattributedPpm: p.unattributedPpm,
        };
      }),
    };
  }
  /** One splitter per payee (two payees may share one), lower-case. */
  function payeeSplitters(): string[] {
    return [...new Set(ctx.models.payees().map((p) => p.splitter.toLowerCase()))];
  }

  /**
   * The newest SUMMARY_EPOCHS epochs, newest last (a page of each payee's, merged by time), and how many
   * there are in all: the summary's cost does not grow with the number of epochs.
   */
  async function newestEpochs(): Promise<{ epochs: Array<Record<string, unknown>>; total: number }> {
    const byPayee = new Map(ctx.models.payees().map((p) => [p.splitter.toLowerCase(), p.id]));
    type Page = { epochs: Array<Record<string, unknown> & { createdAt: number; epoch: number }>; total: number };
    const [all, ...pages] = await Promise.all([
      api<Page>("/epochs?limit=1"),
      ...[...byPayee.values()].map((id) => api<Page>(`/epochs?model=${encodeURIComponent(id)}&limit=${SUMMARY_EPOCHS}`)),
    ]);
    const merged = pages.flatMap((p) => p.epochs).sort((a, b) => a.createdAt - b.createdAt || a.epoch - b.epoch);
    return { epochs: merged.slice(-SUMMARY_EPOCHS), total: all.total };
  }

  app.get<{ Params: { id: string } }>("/dashboard/api/outputs/:id", async (request, reply) => {
    reply.header("Cache-Control", "no-store");
    const raw = request.params.id;
    if (!BYTES32.test(raw))
      return reply.code(400).send({ error: "invalid_output_id", message: `not an output id: ${JSON.stringify(raw)}` });
    const outputId = (raw.startsWith("0x") ? raw : `0x${raw}`).toLowerCase();
    let attribution: Record<string, unknown> & { record: unknown };
    try {
      attribution = await api(attributionPath(outputId));
    } catch (e) {
      if (e instanceof NotFound) return reply.code(404).send({ error: "output_not_found", message: `no output ${outputId}` });
      throw e;
    }
    const record = parseRecord(JSON.stringify(attribution.record));
    const text = (await ctx.texts?.load(outputId)) ?? null;
    const highlighted = text ? highlightOutput(record, text.output) : null;
    return {
      ...attribution,
      recordUrl: `${ctx.baseUrl(request)}${attributionPath(outputId)}`,
      prompt: text?.prompt ?? null,
      text: highlighted ? { matchesRecord: highlighted.matchesRecord, pieces: highlighted.pieces } : null,
      contributors: record.contributors.map((c) => ({ address: getAddress(c.address), ppm: c.ppm, tokens: c.tokens })),
      unattributedPpm: record.unattributedPpm,
      outputTokens: record.outputTokens,
    };
  });
}
