// Paid data access: a datanet's search (ranked passages, paid per query) and its documents (a
// contribution's full text, paid per document), priced in the datanet's `access` configuration
// and paid with the same x402 plugin as the model routes into the datanet's own splitter. The
// document list (titles, sizes, prices) is free. Each paid answer is stored as an output with
// its access record (server/datanets/access.ts) before settlement, like a model output, so the
// payment links to it on-chain and its epoch allocates it to the contributors of what was returned.
//
// Order of checks: datanet and what it sells (404/403) -> query or hash (400/404) -> search,
// before payment, so a query that matches nothing costs nothing (404) -> payment (402) -> store -> answer.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PaymentScheme, RouteDiscovery } from "@royalty402/fastify-x402";
import { hashRecord, type SuffixIndex } from "../attribution/index.ts";
import type { DatanetAccessConfig } from "../config/index.ts";
import { MAX_QUERY_CHARS, catalog, checkQuery, documentAccess, findDocument, searchAccess, type AccessResult } from "../datanets/access.ts";
import { storeOutput } from "../inference.ts";
import { accessPayeeId, type Payee } from "../models/index.ts";
import { attributionPath } from "../util/urls.ts";
import type { AppContext } from "./context.ts";
import { searchDiscovery } from "./discovery.ts";
import { summary } from "./attribution-summary.ts";
import { ApiError } from "./errors.ts";
import { anyObject, errorSchema, paymentRequiredSchema } from "./schemas.ts";

const HASH = /^0x[0-9a-fA-F]{64}$/;

interface Prepared {
  datanet: string;
  payee: Payee;
  price: bigint;
  access: AccessResult<object>;
}

const prepared = new WeakMap<FastifyRequest, Prepared>();

/** The datanet's access terms and payee, or a 404/403 saying why it sells nothing. */
function seller(ctx: AppContext, id: string): { access: DatanetAccessConfig; payee: Payee; index: SuffixIndex } {
  const access = ctx.datanets.config(id).access; // 404 datanet_not_found for an unknown id
  const payee = ctx.models.payee(accessPayeeId(id));
  if (!access || !payee)
    throw new ApiError(
      403,
      "datanet_not_for_sale",
      `datanet ${id} sells no data access (its contributors earn through the models that use it): no access in its configuration`,
    );
  return { access, payee, index: ctx.datanets.index(id) };
}

function prepareSearch(ctx: AppContext, request: FastifyRequest<{ Params: { id: string }; Querystring: Record<string, unknown> }>) {
  const { id } = request.params;
  const { access, payee, index } = seller(ctx, id);
  if (access.pricePerSearch === null) throw new ApiError(403, "search_not_sold", `datanet ${id} does not sell searches`);
  // Decoded from the raw URL: fastify's parser leaves a value with undecodable escapes (%FF) as it came.
  const at = request.url.indexOf("?");
  const raw = at < 0 ? [] : new URLSearchParams(request.url.slice(at + 1)).getAll("q");
  const query = checkQuery(raw.length === 1 ? raw[0] : undefined);
  const limit = limitOf(request.query.limit, access.maxResults);
  const result = searchAccess(index, query, limit);
  if (result.body.results.length === 0)
    throw new ApiError(404, "no_matching_passages", `no passage of datanet ${id} contains a word of the query; nothing was charged`);
  prepared.set(request, { datanet: id, payee, price: access.pricePerSearch, access: result });
}

function prepareDocument(ctx: AppContext, request: FastifyRequest<{ Params: { id: string; hash: string } }>) {
  const { id, hash } = request.params;
  const { access, payee, index } = seller(ctx, id);
  if (!access.sellDocuments || access.pricePerDocument === null)
    throw new ApiError(403, "documents_not_sold", `datanet ${id} does not sell documents (its search passages may be for sale)`);
  if (!HASH.test(hash)) throw new ApiError(400, "invalid_hash", `${JSON.stringify(hash.slice(0, 80))} is not a 0x-prefixed 32-byte hash`);
  const c = findDocument(index, hash);
  if (c < 0) throw new ApiError(404, "contribution_not_found", `datanet ${id} serves no contribution ${hash.toLowerCase()}`);
  prepared.set(request, { datanet: id, payee, price: access.pricePerDocument, access: documentAccess(index, c) });
}

function limitOf(raw: unknown, max: number): number {
  if (raw === undefined) return max;
  const n = typeof raw === "string" && /^\d{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= max)) throw new ApiError(400, "invalid_limit", `limit must be an integer from 1 to ${max}`);
  return n;
}

/** Stores the output and its record (and texts, when epochs publish them), then reports them to the plugin. */
async function serve(ctx: AppContext, request: FastifyRequest) {
  const p = prepared.get(request)!;
  const payment = request.x402!;
  const { record, output, prompt, body } = p.access;
  const outputId = payment.outputId.toLowerCase();
  const recordHash = hashRecord(record);
  await storeOutput(ctx, { outputId, modelId: p.payee.id, paymentKey: payment.key, record, recordHash }, { output, prompt });
  const recordUrl = `${ctx.baseUrl(request)}${attributionPath(outputId)}`;
  payment.setOutput({ outputId, attributionRoot: recordHash, attributionUrl: recordUrl });
  return { datanet: p.datanet, ...body, attribution: summary(record, outputId, recordHash, recordUrl) };
}

/** Free: what the datanet sells, at which price, to which splitter, and its documents' titles and sizes. */
function listing(ctx: AppContext, id: string) {
  const { access, payee, index } = seller(ctx, id);
  return {
    datanet: id,
    payee: payee.id,
    indexRoot: index.indexRoot,
    network: ctx.network,
    asset: ctx.token.address,
    payTo: payee.splitter,
    splitterDeployed: payee.deployed,
    price: {
      search: access.pricePerSearch?.toString() ?? null,
      document: access.sellDocuments ? (access.pricePerDocument?.toString() ?? null) : null,
      symbol: ctx.token.symbol,
      decimals: ctx.token.decimals,
    },
    sellsDocuments: access.sellDocuments,
    maxResults: access.maxResults,
    split: { ownerBps: payee.splitterConfig.ownerBps, protocolBps: payee.splitterConfig.protocolBps },
    documents: catalog(index),
  };
}

const idParams = { type: "object", properties: { id: { type: "string" } } };

/** What the search route's challenge declares (bazaar extension): its query parameters. */
const SEARCH_DISCOVERY = {
  input: { q: "jury election", limit: "3" },
  inputSchema: {
    properties: { q: { type: "string", minLength: 1, maxLength: MAX_QUERY_CHARS }, limit: { type: "string", pattern: "^[0-9]{1,2}$" } },
    required: ["q"],
  },
};

/** `schemes`: the x402 schemes the model routes offer (a fixed price: `upto` settles it whole). */
export async function dataAccessRoutes(app: FastifyInstance, opts: { ctx: AppContext; schemes?: readonly PaymentScheme[] }): Promise<void> {
  const { ctx } = opts;
  const schemes = opts.schemes ?? [];
  const paid = (description: string, discovery?: RouteDiscovery) => ({
    ...(schemes.length > 0 ? { scheme: schemes.map((s) => s.scheme) } : {}),
    resource: (request: FastifyRequest) => prepared.get(request)!.payee.id,
    price: (request: FastifyRequest) => prepared.get(request)!.price,
    description,
    mimeType: "application/json",
    ...(discovery ? { discovery } : {}),
  });

  app.get<{ Params: { id: string } }>(
    "/datanets/:id/documents",
    {
      schema: {
        summary: "Free: a datanet's prices, payTo (its splitter) and documents (hash, contributor, title, sizes)",
        tags: ["datanets"],
        params: idParams,
        response: { 200: anyObject("{datanet, payTo, price, sellsDocuments, documents: [...]}"), "4xx": errorSchema },
      },
    },
    async (request) => listing(ctx, request.params.id),
  );

  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    "/datanets/:id/search",
    {
      schema: {
        summary: "Search a datanet (?q=words&limit=n): ranked passages with their contributors, paid per query with x402",
        tags: ["datanets"],
        params: idParams,
        response: { 200: anyObject("{datanet, query, results, attribution}"), 402: paymentRequiredSchema, "4xx": errorSchema },
      },
      config: { x402: paid("datanet search", searchDiscovery(ctx, SEARCH_DISCOVERY)) },
      preHandler: async (request) => prepareSearch(ctx, request),
    },
    (request) => serve(ctx, request),
  );

  app.get<{ Params: { id: string; hash: string } }>(
    "/datanets/:id/contributions/:hash",
    {
      schema: {
        summary: "A contribution's full text, paid per document with x402 (only where the datanet sells documents)",
        tags: ["datanets"],
        params: { type: "object", properties: { id: { type: "string" }, hash: { type: "string" } } },
        response: { 200: anyObject("{datanet, contentHash, text, attribution}"), 402: paymentRequiredSchema, "4xx": errorSchema },
      },
      config: { x402: paid("datanet document") },
      preHandler: async (request) => prepareDocument(ctx, request),
    },
    (request) => serve(ctx, request),
  );
}
