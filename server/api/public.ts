// Free read endpoints: an output's attribution record (with its epoch inclusion proof once
// posted), a contributor's earnings and claim, epochs and their documents, datanets.
import type { FastifyInstance } from "fastify";
import { getAddress, isAddress } from "ethers";
import { checksumAddress } from "../chain/address.ts";
import { RECORDS_LEAF_ENCODING, type ParsedEpoch } from "../epochs/index.ts";
import type { EpochCursor, EpochSummary, OutputRecord } from "../ledger/types.ts";
import { accessPayeeId, type Payee } from "../models/index.ts";
import { splitterViews } from "../models/splitters.ts";
import type { AppContext } from "./context.ts";
import { EXPORT_HEADERS } from "../datanets/export.ts";
import { ApiError } from "./errors.ts";
import { addressParams, anyObject, errorSchema } from "./schemas.ts";

const BYTES32 = /^(0x)?[0-9a-fA-F]{64}$/;

function epochSummary(ctx: AppContext, parsed: ParsedEpoch) {
  const { record } = parsed;
  return {
    model: ctx.models.payeeBySplitter(record.splitter)?.id ?? null,
    splitter: getAddress(record.splitter),
    epoch: record.epoch,
    /** posting: written and being posted; posted: on-chain, in its challenge period; active: claimable; vetoed. */
    status: record.txHash === null && record.status === "posted" ? "posting" : record.status,
    txHash: record.txHash,
    uri: record.uri,
    claimsRoot: record.claimsRoot,
    recordsRoot: record.recordsRoot,
    cumulativeAllocated: record.cumulativeAllocated,
    createdAt: record.createdAt,
  };
}

export async function publicRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  attributionRoutes(app, opts.ctx);
  contributorRoutes(app, opts.ctx);
  epochRoutes(app, opts.ctx);
  datanetRoutes(app, opts.ctx);
}

function attributionRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: { outputId: string } }>(
    "/attributions/:outputId",
    {
      schema: {
        summary: "An output's full attribution record, its payment, and its epoch inclusion proof once posted",
        tags: ["attribution"],
        params: { type: "object", properties: { outputId: { type: "string" } } },
        response: { 200: anyObject("{outputId, model, recordHash, record, payment, epoch}"), "4xx": errorSchema },
      },
    },
    async (request) => {
      const raw = request.params.outputId;
      const outputId = BYTES32.test(raw) ? (raw.startsWith("0x") ? raw : `0x${raw}`).toLowerCase() : raw;
      const output = await ctx.ledger.getOutput(outputId);
      if (!output) throw new ApiError(404, "output_not_found", `no output ${JSON.stringify(raw)}`);
      const payment = output.paymentKey ? await ctx.ledger.getPayment(output.paymentKey) : null;
      const model = ctx.models.payee(output.modelId);
      const epoch = output.epoch !== null && model ? await epochInclusion(ctx, output, model.splitter, output.epoch) : null;
      return {
        outputId: output.outputId,
        model: output.modelId,
        recordHash: output.recordHash,
        record: JSON.parse(output.record),
        createdAt: output.createdAt,
        payment: payment && {
          status: payment.status,
          amount: payment.amount,
          payer: getAddress(payment.payer),
          payTo: getAddress(payment.payTo),
          network: payment.network,
          asset: getAddress(payment.asset),
          txHash: payment.txHash,
        },
        epoch,
      };
    },
  );
}

/** The output's leaf in its posted epoch's records tree, with the proof; null until the epoch document has it. */
async function epochInclusion(ctx: AppContext, output: OutputRecord, splitter: string, epochNumber: number) {
  const parsed = await ctx.docs.get(splitter, epochNumber);
  const leaf = parsed?.recordLeaf(output.outputId);
  if (!parsed || !leaf) return null;
  const s = epochSummary(ctx, parsed);
  return {
    epoch: s.epoch,
    splitter: s.splitter,
    status: s.status,
    txHash: s.txHash,
    uri: s.uri,
    recordsRoot: s.recordsRoot,
    leaf: { outputId: leaf.outputId, recordHash: leaf.recordHash },
    leafEncoding: RECORDS_LEAF_ENCODING,
    proof: leaf.proof,
  };
}

function contributorRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: { address: string } }>(
    "/contributors/:address",
    {
      schema: {
        summary: "A contributor's earnings per model: earned (posted epochs), claimed on-chain, claimable now with the proof to claim with",
        tags: ["contributors"],
        params: addressParams,
        response: {
          200: anyObject("{address, totals, models: [{model, splitter, earned, claimed, claimable, pending, claim}]}"),
          "4xx": errorSchema,
        },
      },
    },
    async (request) => {
      if (!isAddress(request.params.address))
        throw new ApiError(400, "invalid_address", `not an address: ${JSON.stringify(request.params.address)}`);
      const address = getAddress(request.params.address.toLowerCase());
      const models = [];
      const totals = { earned: 0n, claimed: 0n, claimable: 0n, pending: 0n };
      for (const model of ctx.models.payees()) {
        const entry = await modelEarnings(ctx, model, address);
        if (!entry) continue;
        totals.earned += BigInt(entry.earned);
        totals.claimed += BigInt(entry.claimed);
        totals.claimable += BigInt(entry.claimable);
        totals.pending += BigInt(entry.pending);
        models.push(entry);
      }
      return {
        address,
        asset: ctx.token.address,
        network: ctx.network,
        totals: {
          earned: totals.earned.toString(),
          claimed: totals.claimed.toString(),
          claimable: totals.claimable.toString(),
          pending: totals.pending.toString(),
        },
        models,
      };
    },
  );
}

/** One model's line of a contributor's earnings, or null when the account neither earned nor claimed anything there. */
async function modelEarnings(ctx: AppContext, model: Payee, address: string) {
  // Earned: the account's leaf in the newest epoch on-chain and not vetoed (indexed rows, no document).
  const latest = await ctx.ledger.latestEpochSummary(model.splitter, "posted_not_vetoed");
  const earned = BigInt(latest ? ((await ctx.ledger.getEpochClaim(model.splitter, latest.epoch, address))?.cumulativeAmount ?? "0") : "0");
  const onChain = model.deployed ? await activeClaim(ctx, model.splitter, address) : null;
  const claimed = onChain?.claimed ?? 0n;
  const activeAmount = onChain?.activeAmount ?? 0n;
  if (earned === 0n && claimed === 0n) return null;
  const claimable = activeAmount > claimed ? activeAmount - claimed : 0n;
  const pending = earned > activeAmount ? earned - activeAmount : 0n;
  return {
    model: model.id,
    splitter: model.splitter,
    latestEpoch: latest?.epoch ?? null,
    earned: earned.toString(),
    claimed: claimed.toString(),
    claimable: claimable.toString(),
    /** Allocated in a posted epoch still in its challenge period. */
    pending: pending.toString(),
    /** Call splitter.claim(account, cumulativeAmount, proof) (anyone may) to pay out `claimable`. */
    claim: onChain?.claim ?? null,
  };
}

/** What the account claimed on-chain, its amount in the active epoch, and the claim to submit while some is still due. */
async function activeClaim(ctx: AppContext, splitter: string, address: string) {
  const views = splitterViews(splitter, ctx.provider);
  const [claimedOnChain, active] = await Promise.all([views.getFunction("claimed")(address), views.getFunction("activeEpoch")()]);
  const claimed = BigInt(claimedOnChain);
  const activeNumber = Number(active.epoch);
  const stored = activeNumber > 0 ? await ctx.ledger.getEpochSummary(splitter, activeNumber) : null;
  const leaf = stored?.claimsRoot === active.claimsRoot ? await ctx.ledger.getEpochClaim(splitter, activeNumber, address) : null;
  if (!leaf) return { claimed, activeAmount: 0n, claim: null };
  const activeAmount = BigInt(leaf.cumulativeAmount);
  // Only a claim still due needs the proof, read from the epoch document.
  const proof = activeAmount > claimed ? (await ctx.docs.get(splitter, activeNumber))?.claim(address)?.proof : undefined;
  const claim = proof ? { splitter, epoch: activeNumber, account: address, cumulativeAmount: leaf.cumulativeAmount, proof } : null;
  return { claimed, activeAmount, claim };
}

const EPOCH_PAGE = { default: 100, max: 1000 };

type EpochsQuery = { model?: string; limit?: string; before?: string };

function epochRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: EpochsQuery }>(
    "/epochs",
    {
      schema: {
        summary:
          "Epochs of every model (or ?model=), newest last, a page at a time: the newest `limit` (default 100, at most 1000), " +
          "then those before the cursor `before` (the `next` of the previous page); `total` counts every epoch listed",
        tags: ["epochs"],
        querystring: {
          type: "object",
          properties: {
            model: { type: "string", description: "only this model's (or payee's) epochs" },
            limit: { type: "string", description: `epochs per page, 1 to ${EPOCH_PAGE.max} (default ${EPOCH_PAGE.default})` },
            before: {
              type: "string",
              description:
                "cursor: the `next` of the previous page (`<splitter>:<epoch>`; with `model`, the epoch number alone also works)",
            },
          },
        },
        response: { 200: anyObject("{epochs: [...], total, next: cursor | null}"), "4xx": errorSchema },
      },
    },
    async (request) => {
      const { model: only, limit: rawLimit, before: rawBefore } = request.query;
      let splitter: string | undefined;
      if (only !== undefined) {
        const model = ctx.models.payee(only);
        if (!model) throw new ApiError(404, "model_not_found", `The model \`${only}\` does not exist`);
        splitter = model.splitter.toLowerCase();
      }
      const limit = epochLimit(rawLimit);
      const before = rawBefore === undefined ? undefined : epochCursor(rawBefore, splitter);
      // Indexed columns only, one page of the primary key: listing epochs never reads their documents.
      const [rows, total] = await Promise.all([
        ctx.ledger.pageEpochSummaries({ splitter, limit: limit + 1, before }),
        ctx.ledger.countEpochs(splitter),
      ]);
      const page = rows.length > limit ? rows.slice(1) : rows;
      const next = rows.length > limit ? `${getAddress(page[0].splitter)}:${page[0].epoch}` : null;
      return { epochs: page.map((r) => epochListEntry(ctx, r)), total, next };
    },
  );

  app.get<{ Params: { splitter: string; epoch: string } }>(
    "/epochs/:splitter/:epoch",
    {
      schema: {
        summary:
          "The published epoch document (the `uri` posted on-chain): payments, records, allocations, claims and records trees with proofs",
        tags: ["epochs"],
        params: { type: "object", properties: { splitter: { type: "string" }, epoch: { type: "string" } } },
        response: { 200: anyObject("EpochDocument (royalty402-epoch/v1)"), "4xx": errorSchema },
      },
    },
    async (request, reply) => {
      const { splitter, epoch } = request.params;
      if (!isAddress(splitter)) throw new ApiError(400, "invalid_address", `not an address: ${JSON.stringify(splitter)}`);
      if (!/^\d{1,9}$/.test(epoch)) throw new ApiError(400, "invalid_epoch", `not an epoch number: ${JSON.stringify(epoch)}`);
      const parsed = await ctx.docs.get(splitter, Number(epoch));
      if (!parsed) throw new ApiError(404, "epoch_not_found", `no epoch ${epoch} of ${splitter}`);
      // The published JSON's bytes as the epoch worker encoded them: never parsed, serialized or encoded on the event loop.
      return reply.type("application/json; charset=utf-8").send(parsed.body);
    },
  );
}

function epochLimit(raw: string | undefined): number {
  if (raw === undefined) return EPOCH_PAGE.default;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= EPOCH_PAGE.max)) throw new ApiError(400, "invalid_limit", `limit must be an integer from 1 to ${EPOCH_PAGE.max}`);
  return n;
}

/** `<splitter>:<epoch>`, or (with a model) the epoch alone; a cursor of another model's splitter is refused. */
function epochCursor(raw: string, splitter: string | undefined): EpochCursor {
  const m = /^(?:(0x[0-9a-fA-F]{40}):)?(\d{1,9})$/.exec(raw);
  const cursorSplitter = m?.[1]?.toLowerCase() ?? splitter;
  if (!m || cursorSplitter === undefined || (splitter !== undefined && cursorSplitter !== splitter))
    throw new ApiError(
      400,
      "invalid_cursor",
      "before must be the `next` of a previous page (<splitter>:<epoch>, or the epoch alone with model): " +
        JSON.stringify(raw.slice(0, 100)),
    );
  return { splitter: cursorSplitter, epoch: Number(m[2]) };
}

/** An epoch as GET /epochs lists it: the indexed columns of its row. */
function epochListEntry(ctx: AppContext, r: EpochSummary) {
  return {
    model: ctx.models.payeeBySplitter(r.splitter)?.id ?? null,
    splitter: checksumAddress(r.splitter) ?? r.splitter,
    epoch: r.epoch,
    status: r.txHash === null && r.status === "posted" ? "posting" : r.status,
    txHash: r.txHash,
    uri: r.uri,
    claimsRoot: r.claimsRoot,
    recordsRoot: r.recordsRoot,
    cumulativeAllocated: r.cumulativeAllocated,
    cumulativeReceived: r.cumulativeReceived,
    epochPool: r.epochPool,
    outputs: r.outputs,
    claimants: r.claimants,
    createdAt: r.createdAt,
  };
}

function datanetRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    "/datanets",
    { schema: { summary: "Datanets served here", tags: ["datanets"], response: { 200: anyObject("{datanets: [...]}") } } },
    async () => ({
      datanets: ctx.datanets.ids().map((id) => ({
        id,
        description: ctx.datanets.config(id).description,
        index: ctx.datanets.info(id),
        access: accessSummary(ctx, id),
        models: ctx.models
          .list()
          .filter((m) => m.config.datanet === id)
          .map((m) => m.id),
      })),
    }),
  );

  app.get<{ Params: { id: string } }>(
    "/datanets/:id",
    {
      schema: {
        summary: "A datanet: contributions, contributors, the served index (indexRoot), models drawing on it",
        tags: ["datanets"],
        params: { type: "object", properties: { id: { type: "string" } } },
        response: { 200: anyObject("{id, contributions, contributors, index, models}"), "4xx": errorSchema },
      },
    },
    async (request) => {
      const described = await ctx.datanets.describe(request.params.id);
      return {
        ...described,
        access: accessSummary(ctx, request.params.id),
        models: ctx.models
          .list()
          .filter((m) => m.config.datanet === request.params.id)
          .map((m) => m.id),
      };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { root?: string } }>(
    "/datanets/:id/export",
    {
      schema: {
        summary: "An open datanet's contributions as JSON Lines (all, or those the index of ?root= was built from)",
        tags: ["datanets"],
        params: { type: "object", properties: { id: { type: "string" } } },
        querystring: { type: "object", properties: { root: { type: "string" } } },
      },
    },
    async (request, reply) => {
      const { root } = request.query;
      if (root !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(root)) {
        throw new ApiError(400, "invalid_index_root", "root must be an indexRoot: 0x and 64 hex digits");
      }
      const x = await ctx.datanets.exportOf(request.params.id, root);
      reply.header("content-type", "application/x-ndjson; charset=utf-8").header("etag", `"${x.hash}"`);
      reply.header(EXPORT_HEADERS.hash, x.hash).header(EXPORT_HEADERS.minCopyTokens, String(x.minCopyTokens));
      if (x.indexRoot) reply.header(EXPORT_HEADERS.indexRoot, x.indexRoot);
      return x.body;
    },
  );
}

/** What a datanet sells directly (null: nothing; it earns through models only); details at /datanets/:id/documents. */
function accessSummary(ctx: AppContext, id: string) {
  const access = ctx.datanets.config(id).access;
  const payee = ctx.models.payee(accessPayeeId(id));
  if (!access || !payee) return null;
  return {
    payee: payee.id,
    payTo: payee.splitter,
    pricePerSearch: access.pricePerSearch?.toString() ?? null,
    pricePerDocument: access.sellDocuments ? (access.pricePerDocument?.toString() ?? null) : null,
    documents: `/datanets/${encodeURIComponent(id)}/documents`,
  };
}
