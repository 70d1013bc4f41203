// The fastify plugin: options checked at registration, then each route with `config.x402` gets
// the three stages as route hooks: challenge and admission (preHandler), settlement (onSend),
// release of an abandoned reservation (onResponse). Plus the held-output route, late results
// and the host's recovery.
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import fp from "fastify-plugin";
import rateLimit from "@fastify/rate-limit";
import { admit, admitted, offeredSchemes, toAmount } from "./admission.ts";
import { refuse } from "./answers.ts";
import { PLAIN_CHALLENGE, challenges, sendEncoded, type Challenges } from "./challenge.ts";
import { heldOutputRoute } from "./held-outputs.ts";
import { lateResults } from "./late-settlements.ts";
import { resolveOptions, type Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import { release, settleOnSend } from "./settlement.ts";
import { bindStreaming, isDeferred } from "./streaming.ts";
import type { PaidRoute, PaymentContext, X402Options } from "./types.ts";
import { DiscoveryCatalog } from "./discovery.ts";
import { X_PAYMENT_HEADER, addV1Settlement, v1Requests } from "./v1.ts";
import { PAYMENT_SIGNATURE_HEADER } from "./wire.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The payment of a paid route's request, once admitted (null otherwise). */
    x402: PaymentContext | null;
  }
  interface FastifyContextConfig {
    /** Makes the route paid. */
    x402?: PaidRoute;
  }
}

type Done = (error?: Error | null, payload?: unknown) => void;

async function x402Plugin(app: FastifyInstance, options: X402Options): Promise<void> {
  const rt = resolveOptions(options);
  const ch = challenges(rt);
  const late = lateResults(rt, app.log);
  app.decorateRequest("x402", null);
  const limiter = await challengeLimiter(app, options);
  const catalog = new DiscoveryCatalog(rt, ch);

  app.addHook("onRoute", (routeOptions) => {
    const route = routeOptions.config?.x402;
    if (!route) return;
    checkRoute(rt, route, routeOptions.url);
    catalog.add(routeOptions.url, routeOptions.method, route);
    const append = <T>(existing: T | T[] | undefined, hook: T): T[] =>
      existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook];
    if (limiter) routeOptions.onRequest = append(routeOptions.onRequest, limiter as never);
    routeOptions.preHandler = append(routeOptions.preHandler, paidHook(rt, ch, route) as never);
    // After admission: a streaming handler may take its settlement over (streaming.ts).
    routeOptions.preHandler = append(routeOptions.preHandler, ((request: FastifyRequest, _reply: FastifyReply, done: Done) => {
      if (admitted.has(request)) bindStreaming(request, rt, late);
      done();
    }) as never);
    routeOptions.onSend = append(routeOptions.onSend, ((request: FastifyRequest, reply: FastifyReply, payload: unknown, done: Done) => {
      const state = admitted.get(request);
      if (!state || state.finished) return done(null, payload);
      settleOnSend(rt, late, request, reply, payload).then((settled) => done(null, settled), done);
    }) as never);
    // A v1 payer reads its settlement from X-PAYMENT-RESPONSE (first answers and re-deliveries alike).
    if (rt.v1Network) {
      const v1Network = rt.v1Network;
      routeOptions.onSend = append(routeOptions.onSend, ((request: FastifyRequest, reply: FastifyReply, payload: unknown, done: Done) => {
        if (v1Requests.has(request)) addV1Settlement(reply, v1Network);
        done(null, payload);
      }) as never);
    }
    // A request that ended without reaching onSend (client gone mid-handler) gives its reservation back.
    routeOptions.onResponse = append(routeOptions.onResponse, ((request: FastifyRequest, _reply: FastifyReply, done: Done) => {
      const state = admitted.get(request);
      if (!state || state.finished || isDeferred(request)) return done();
      release(rt, request, state, "request_aborted", "request_aborted").then(
        () => done(),
        () => done(),
      );
    }) as never);
  });

  heldOutputRoute(app, rt);
  if (rt.discovery) catalog.route(app, rt.discovery.path);
  if (options.lateSettlements) {
    const unsubscribe = late.listen(options.lateSettlements);
    app.addHook("onClose", async () => unsubscribe());
  }
  startRecovery(app, rt);
}

function checkRoute(rt: Runtime, route: PaidRoute, url: string): void {
  const where = `fastify-x402: route ${url}: config.x402`;
  if (typeof route.resource !== "string" && typeof route.resource !== "function")
    throw new Error(`${where}.resource must be a string or a function`);
  if (!["bigint", "string", "number", "function"].includes(typeof route.price))
    throw new Error(`${where}.price must be an amount or a function`);
  if (typeof route.price !== "function") toAmount(route.price);
  const names = route.scheme === undefined ? [] : typeof route.scheme === "string" ? [route.scheme] : route.scheme;
  if (route.scheme !== undefined && names.length === 0) throw new Error(`${where}.scheme must name at least one scheme`);
  for (const name of names) if (!rt.schemes.has(name)) throw new Error(`${where}.scheme "${name}" is not registered`);
}

/**
 * The preHandler of a paid route. Callback-style with a synchronous fast path: a plain challenge
 * on a route with a fixed resource and price (the most frequent request) costs no promise.
 */
function paidHook(rt: Runtime, ch: Challenges, route: PaidRoute) {
  const fixedAmount = typeof route.price === "function" ? null : toAmount(route.price);
  const schemes = offeredSchemes(rt, route);
  let last: { payTo: string; url: string; method: string; host: string | undefined; header: string; body: string } | null = null;
  return (request: FastifyRequest, reply: FastifyReply, done: Done) => {
    if (!carriesPayment(request) && typeof route.resource === "string" && fixedAmount !== null) {
      const payTo = rt.payTo(route.resource);
      if (typeof payTo === "string") {
        const host = rt.publicUrl ? undefined : rt.baseUrl(request);
        if (last === null || last.payTo !== payTo || last.url !== request.url || last.host !== host || last.method !== request.method) {
          last = {
            payTo,
            url: request.url,
            method: request.method,
            host,
            ...ch.encoded(
              request,
              route,
              schemes.map((scheme) => ch.requirements(scheme.scheme, payTo, fixedAmount)),
              PLAIN_CHALLENGE,
            ),
          };
        }
        rt.emit({ status: "challenged", resource: route.resource, request });
        sendEncoded(reply, last);
        return; // answered: fastify expects no done() after a reply from a callback hook
      }
      if (payTo === undefined) {
        refuse(reply, 404, Reason.unknownResource, `no paid resource named ${JSON.stringify(route.resource)}`);
        return;
      }
    }
    admit(rt, ch, route, request, reply).then((answered) => (answered ? undefined : done()), done);
  };
}

/** Whether a request carries a payment: v2 PAYMENT-SIGNATURE or v1 X-PAYMENT. */
const carriesPayment = (request: FastifyRequest) =>
  request.headers[PAYMENT_SIGNATURE_HEADER] !== undefined || request.headers[X_PAYMENT_HEADER] !== undefined;

async function challengeLimiter(app: FastifyInstance, options: X402Options): Promise<onRequestHookHandler | null> {
  const limit = options.challengeRateLimit;
  if (!limit) return null;
  if (!app.hasDecorator("rateLimit")) await app.register(rateLimit, { global: false });
  return app.rateLimit({
    max: limit.max,
    timeWindow: limit.timeWindow,
    ...(limit.keyGenerator ? { keyGenerator: limit.keyGenerator } : {}),
    // Only challenges are limited: a request carrying a payment goes through.
    allowList: carriesPayment,
    errorResponseBuilder: (_request, context) => ({
      statusCode: context.statusCode,
      code: Reason.challengeRateLimited,
      error: "Too Many Requests",
      message: `too many unpaid requests; retry in ${context.after}`,
    }),
  }) as onRequestHookHandler;
}

/** The host's crash recovery: its pass at start (awaited briefly by retries of open payments), then periodic passes. */
function startRecovery(app: FastifyInstance, rt: Runtime): void {
  const recovery = rt.recovery;
  if (!recovery) return;
  app.addHook("onReady", async () => {
    rt.startPass = recovery.start().finally(() => (rt.startPass = null));
  });
  app.addHook("onClose", async () => recovery.stop());
}

/** x402 payments for fastify routes (register once; routes opt in with `config.x402`). */
export const fastifyX402 = fp(x402Plugin, { fastify: "5.x", name: "@royalty402/fastify-x402" });
