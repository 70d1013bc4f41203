// The x402 `bazaar` extension: every paid route declares how to call it (method, example input,
// output) in its challenge, and GET {discovery path} lists every paid resource in the reference
// discovery shape ({x402Version, items: [{resource, type: "http", x402Version: 2, accepts, …}],
// pagination}) so a bazaar client (withBazaar(...).extensions.bazaar.listResources) can find them.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { PaymentRequirements } from "@x402/core/types";
import { offeredSchemes, toAmount } from "./admission.ts";
import type { Challenges } from "./challenge.ts";
import type { Runtime } from "./options.ts";
import { PAYMENT_IDENTIFIER, paymentIdentifierDeclaration } from "./payment-identifier.ts";
import type { PaidRoute } from "./types.ts";
import { X402_VERSION } from "./wire.ts";

export const BAZAAR = "bazaar";
export const DEFAULT_DISCOVERY_PATH = "/discovery/resources";
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
const JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema";

type Awaitable<T> = T | Promise<T>;

/** What a paid route tells discovery about itself (`config.x402.discovery`). */
export interface RouteDiscovery {
  /** An example request body (POST/PUT/PATCH) or query parameters (GET/HEAD/DELETE). */
  input?: Record<string, unknown>;
  /** JSON Schema of that body or those query parameters. */
  inputSchema?: Record<string, unknown>;
  bodyType?: "json" | "form-data" | "text";
  output?: { example?: unknown; schema?: Record<string, unknown> };
  /** The resources the route sells with their prices, for routes whose resource or price come from the request. */
  listings?: () => Awaitable<DiscoveryListing[]>;
}

export interface DiscoveryListing {
  resource: string;
  price: bigint | string | number;
  description?: string;
  /** The example input for this resource (e.g. the body naming this model). */
  input?: Record<string, unknown>;
  /** The path to call, for a route with parameters (e.g. "/datanets/brown/search"); default: the route's. */
  path?: string;
}

/** The bazaar declaration of a route, in the shape the reference `declareDiscoveryExtension` makes (method included). */
export function bazaarDeclaration(method: string, d: RouteDiscovery, input = d.input ?? {}): Record<string, unknown> {
  const isBody = BODY_METHODS.has(method);
  const bodyType = d.bodyType ?? "json";
  const inputSchema = { type: "object", ...(d.inputSchema ?? {}) };
  const infoInput = isBody ? { type: "http", method, bodyType, body: input } : { type: "http", method, queryParams: input };
  const inputProperties = isBody
    ? {
        type: { type: "string", const: "http" },
        method: { type: "string", enum: [method] },
        bodyType: { type: "string", enum: [bodyType] },
        body: inputSchema,
      }
    : { type: { type: "string", const: "http" }, method: { type: "string", enum: [method] }, queryParams: inputSchema };
  const output = d.output ?? {};
  return {
    info: { input: infoInput, output: { type: "json", ...(output.example !== undefined ? { example: output.example } : {}) } },
    schema: {
      $schema: JSON_SCHEMA,
      type: "object",
      properties: {
        input: {
          type: "object",
          properties: inputProperties,
          required: isBody ? ["type", "method", "bodyType", "body"] : ["type", "method"],
          additionalProperties: false,
        },
        output: {
          type: "object",
          properties: { type: { type: "string" }, example: output.schema ?? {} },
          required: ["type"],
        },
      },
      required: ["input"],
    },
  };
}

/** Extensions a route's challenge declares besides its schemes': payment-identifier and bazaar, when on. */
export function routeExtensions(rt: Runtime, route: PaidRoute, method: string): Record<string, unknown> {
  return {
    ...(rt.paymentIds ? { [PAYMENT_IDENTIFIER]: paymentIdentifierDeclaration(rt.paymentIds.required) } : {}),
    ...(rt.discovery && route.discovery !== false ? { [BAZAAR]: bazaarDeclaration(method, route.discovery ?? {}) } : {}),
  };
}

interface CatalogEntry {
  url: string;
  method: string;
  route: PaidRoute;
}

/** The paid routes seen at registration, listed by GET {path}. */
export class DiscoveryCatalog {
  private readonly entries: CatalogEntry[] = [];
  private readonly since = new Date().toISOString();

  constructor(
    private readonly rt: Runtime,
    private readonly ch: Challenges,
  ) {}

  add(url: string, method: string | string[], route: PaidRoute): void {
    if (route.discovery === false) return;
    for (const m of Array.isArray(method) ? method : [method]) if (m !== "HEAD") this.entries.push({ url, method: m, route });
  }

  route(app: FastifyInstance, path: string): void {
    app.get<{ Querystring: { type?: string; limit?: string; offset?: string } }>(path, async (request, reply) => {
      const limit = Math.min(Math.max(Number.parseInt(request.query.limit ?? "100", 10) || 100, 1), 1000);
      const offset = Math.max(Number.parseInt(request.query.offset ?? "0", 10) || 0, 0);
      const type = request.query.type;
      const items = type === undefined || type === "http" ? await this.items(request) : [];
      reply.header("Cache-Control", "no-store");
      return { x402Version: X402_VERSION, items: items.slice(offset, offset + limit), pagination: { limit, offset, total: items.length } };
    });
  }

  private async items(request: FastifyRequest) {
    const base = this.rt.baseUrl(request);
    const lists = await Promise.all(this.entries.map(async (entry) => ({ entry, listings: await listingsOf(entry.route) })));
    const items = [];
    for (const { entry, listings } of lists) {
      for (const listing of listings) {
        const payTo = await this.rt.payTo(listing.resource);
        if (!payTo) continue;
        const amount = toAmount(listing.price);
        const accepts: PaymentRequirements[] = offeredSchemes(this.rt, entry.route).map((s) =>
          this.ch.requirements(s.scheme, payTo, amount),
        );
        const d = entry.route.discovery || {};
        items.push({
          resource: `${base}${listing.path ?? entry.url}`,
          type: "http",
          x402Version: X402_VERSION,
          accepts,
          lastUpdated: this.since,
          description: listing.description ?? entry.route.description ?? "",
          mimeType: entry.route.mimeType ?? "application/json",
          extensions: { [BAZAAR]: bazaarDeclaration(entry.method, d, listing.input ?? d.input ?? {}) },
        });
      }
    }
    return items;
  }
}

async function listingsOf(route: PaidRoute): Promise<DiscoveryListing[]> {
  const listings = route.discovery ? route.discovery.listings : undefined;
  if (listings) return listings();
  if (typeof route.resource !== "string" || typeof route.price === "function") return [];
  return [{ resource: route.resource, price: route.price }];
}
