// Operator endpoints, behind `Authorization: Bearer <admin token>`: add contributions to a
// datanet, rebuild its index, register a model (its splitter created or predicted), close an
// epoch now, repost a vetoed epoch. Without a configured token they are disabled (403).
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AppContext } from "./context.ts";
import { RepostRefused } from "../epochs/index.ts";
import { ApiError } from "./errors.ts";
import { modelListing } from "./openai.ts";
import { anyObject, errorSchema } from "./schemas.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

function checkAdmin(token: string | null, request: FastifyRequest): void {
  if (token === null) throw new ApiError(403, "admin_disabled", "admin endpoints are disabled: set ROYALTY402_ADMIN_TOKEN");
  const header = request.headers.authorization;
  const match = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new ApiError(401, "unauthorized", "send Authorization: Bearer <admin token>");
  // Compare digests: constant time, and lengths never leak.
  if (!timingSafeEqual(digest(match[1]), digest(token))) throw new ApiError(401, "unauthorized", "wrong admin token");
}

const security = [{ bearerAuth: [] }];

export async function adminRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  app.addHook("onRequest", async (request, reply) => {
    try {
      checkAdmin(ctx.adminToken, request);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) reply.header("WWW-Authenticate", 'Bearer realm="royalty402-admin"');
      throw e;
    }
  });

  app.post<{ Params: { id: string }; Body: { contributions: Array<{ contributor: string; text: string }>; rebuild?: boolean } }>(
    "/datanets/:id/contributions",
    {
      schema: {
        summary:
          "Append contributions to a datanet (registration order = order given): attributable on return (delta index, " +
          "merged in the background); `rebuild` waits for a full rebuild instead",
        tags: ["admin"],
        security,
        params: { type: "object", properties: { id: { type: "string" } } },
        body: {
          type: "object",
          required: ["contributions"],
          properties: {
            contributions: {
              type: "array",
              minItems: 1,
              maxItems: 10_000,
              items: {
                type: "object",
                required: ["contributor", "text"],
                properties: { contributor: { type: "string" }, text: { type: "string", minLength: 1 } },
              },
            },
            rebuild: { type: "boolean" },
          },
        },
        response: { 201: anyObject("{added: [{seq, contributor, contentHash}], index}"), "4xx": errorSchema },
      },
    },
    async (request, reply) => {
      const { rebuild } = request.body;
      const added = await ctx.datanets.addContributions(request.params.id, request.body.contributions, { rebuild });
      // without a rebuild the new contributions are attributable at once (delta index, merged in the background)
      const index = rebuild ? await ctx.datanets.rebuild(request.params.id) : ctx.datanets.info(request.params.id);
      reply.code(201);
      return {
        datanet: request.params.id,
        added: added.map((c) => ({ seq: c.seq, contributor: c.contributor, contentHash: c.contentHash })),
        index,
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    "/datanets/:id/rebuild",
    {
      schema: {
        summary: "Rebuild a datanet's suffix index from its contributions (new outputs are attributed against it)",
        tags: ["admin"],
        security,
        params: { type: "object", properties: { id: { type: "string" } } },
        response: { 200: anyObject("{datanet, index}"), "4xx": errorSchema },
      },
    },
    async (request) => ({ datanet: request.params.id, index: await ctx.datanets.rebuild(request.params.id) }),
  );

  app.post<{ Body: { model: unknown; deploy?: boolean } }>(
    "/models",
    {
      schema: {
        summary:
          "Register a model (same fields as a config `models` entry); " +
          "its splitter is created through the factory (deploy, " +
          "default the entry's createSplitter) or only predicted",
        tags: ["admin"],
        security,
        body: {
          type: "object",
          required: ["model"],
          properties: { model: { type: "object", additionalProperties: true }, deploy: { type: "boolean" } },
        },
        response: { 201: anyObject("the model as GET /v1/models lists it"), "4xx": errorSchema },
      },
    },
    async (request, reply) => {
      const model = await ctx.registerModel(request.body.model, { deploy: request.body.deploy });
      reply.code(201);
      return modelListing(ctx, model);
    },
  );

  app.post<{ Body: { model?: string } | undefined }>(
    "/epochs/close",
    {
      schema: {
        summary: "Close an epoch now for one model (or all): aggregate unassigned settled outputs, build, post, assign",
        tags: ["admin"],
        security,
        body: { anyOf: [{ type: "object", properties: { model: { type: "string" } } }, { type: "null" }] },
        response: { 200: anyObject("{results: [CloseResult]}"), "4xx": errorSchema },
      },
    },
    async (request) => {
      const modelId = request.body?.model;
      if (modelId !== undefined && !ctx.models.payee(modelId))
        throw new ApiError(404, "model_not_found", `The model \`${modelId}\` does not exist (a datanet's access: datanet:<id>)`);
      return { results: await ctx.scheduler.closeNow(modelId) };
    },
  );

  app.post<{ Body: { model: string } }>(
    "/epochs/repost",
    {
      schema: {
        summary: "Post a model's vetoed epoch again (same document and roots, a new challenge period); its epochs then resume",
        tags: ["admin"],
        security,
        body: { type: "object", required: ["model"], properties: { model: { type: "string" } } },
        response: { 200: anyObject("RepostResult: {status, model, epoch, claimsRoot, txHash, activeAt}"), "4xx": errorSchema },
      },
    },
    async (request) => {
      const model = ctx.models.payee(request.body.model);
      if (!model) throw new ApiError(404, "model_not_found", `The model \`${request.body.model}\` does not exist`);
      try {
        return await ctx.scheduler.repost(model);
      } catch (e) {
        if (e instanceof RepostRefused) throw new ApiError(409, e.code, e.message);
        throw e;
      }
    },
  );

  app.post(
    "/channels/settle",
    {
      schema: {
        summary:
          "Sweep the x402 batch-settlement channels now: claim every charged voucher, settle the money into the splitters and " +
          "link the outputs it paid for (ChannelOutputsPaid); their payments become settled and enter the next epoch",
        tags: ["admin"],
        security,
        response: {
          200: anyObject("{transaction, channels, outputs, amount, links: [{receiver, root, count, amount, transaction}], refused}"),
          "4xx": errorSchema,
        },
      },
    },
    async () => {
      if (!ctx.channels) throw new ApiError(404, "channels_not_enabled", "This server does not offer batch-settlement channels");
      const swept = await ctx.channels.sweeper.sweep();
      if (!swept) return { transaction: null, channels: 0, outputs: 0, amount: "0", links: [], refused: [] };
      return {
        ...swept,
        amount: swept.amount.toString(),
        links: swept.links.map(({ outputs: _, ...link }) => ({ ...link, amount: link.amount.toString() })),
      };
    },
  );
}
