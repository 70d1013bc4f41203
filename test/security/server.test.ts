// Security of the model host, on the in-process chain:
// - admin endpoints refuse a missing, malformed or wrong bearer token (every route, every shape
//   of Authorization header, 500 generated ones too) and change nothing; without a configured
//   token they are disabled (403);
// - 402 challenges are rate limited per client (429 challenge_rate_limited + Retry-After) while
//   paid requests and other clients go through;
// - every response carries the security headers (helmet), refusals included;
// - a full run logged at trace level — paid calls, replays, bad payments, admin calls, the
//   facilitator API — holds no private key, admin token, payment signature or payment header.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import { Wallet } from "ethers";
import {
  ADMIN_TOKEN,
  MODEL,
  completionBody,
  deployChain,
  fundedPayer,
  requirementsFor,
  signedHeader,
  startHost,
  type DeployedChain,
  type Host,
} from "../reliability/support/host.ts";

let d: DeployedChain;
let host: Host;
const logLines: string[] = [];

beforeAll(async () => {
  d = await deployChain();
  host = await startHost(d, {
    logger: { level: "trace", stream: { write: (line: string) => void logLines.push(line) } },
    server: { challengeRateLimit: { max: 5, windowSeconds: 60 } },
  });
});

afterAll(async () => {
  await host?.close();
});

const ADMIN_ROUTES: Array<{ url: string; payload?: unknown }> = [
  {
    url: "/admin/datanets/corpus-brown/contributions",
    payload: {
      contributions: [{ contributor: "0x000000000000000000000000000000000000c0de", text: "An intruder's words." }],
      rebuild: true,
    },
  },
  { url: "/admin/datanets/corpus-brown/rebuild" },
  {
    url: "/admin/models",
    payload: {
      model: {
        id: "intruder",
        backend: "infinigram",
        datanet: "corpus-brown",
        pricePerRequest: "1",
        owner: "0x000000000000000000000000000000000000c0de",
      },
      deploy: false,
    },
  },
  { url: "/admin/epochs/close", payload: { model: MODEL } },
];

/** What an admin call could change: contributions, models, epochs. */
async function adminState(h: Host) {
  const datanet = (await h.app.inject({ method: "GET", url: "/datanets/corpus-brown" })).json();
  const models = (await h.app.inject({ method: "GET", url: "/v1/models" })).json();
  const epochs = (await h.app.inject({ method: "GET", url: "/epochs" })).json();
  return JSON.stringify([datanet.contributions, datanet.index?.indexRoot, models.data.map((m: { id: string }) => m.id), epochs]);
}

describe("admin endpoints", () => {
  const wrongAuthorizations = [
    undefined,
    "",
    "Bearer",
    "Bearer ",
    `Bearer ${"x".repeat(ADMIN_TOKEN.length)}`,
    "Bearer wrong-token-of-another-length",
    `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
    `Bearer ${ADMIN_TOKEN}x`,
    `Bearer ${ADMIN_TOKEN.toUpperCase()}`,
    `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}`,
    ADMIN_TOKEN,
    `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}`,
    `Token ${ADMIN_TOKEN}`,
    `Bearer ${Buffer.from(ADMIN_TOKEN).toString("base64")}`,
    `Bearer ${ADMIN_TOKEN.replace("a", "а")}`, // Cyrillic a
  ];

  it("refuse every missing, malformed or wrong token on every route (401, WWW-Authenticate), and change nothing", async () => {
    const before = await adminState(host);
    for (const route of ADMIN_ROUTES) {
      for (const authorization of wrongAuthorizations) {
        const res = await host.app.inject({
          method: "POST",
          url: route.url,
          payload: route.payload ?? {},
          headers: authorization === undefined ? {} : { authorization },
        });
        expect([route.url, authorization, res.statusCode]).toEqual([route.url, authorization, 401]);
        expect(res.json().error).toBe("unauthorized");
        expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
      }
      // The token anywhere but the Authorization header does not count either.
      const elsewhere = await host.app.inject({
        method: "POST",
        url: `${route.url}?token=${ADMIN_TOKEN}&access_token=${ADMIN_TOKEN}`,
        payload: route.payload ?? {},
        headers: { cookie: `token=${ADMIN_TOKEN}`, "x-admin-token": ADMIN_TOKEN },
      });
      expect(elsewhere.statusCode).toBe(401);
    }
    expect(await adminState(host)).toBe(before);
  });

  it("500 generated Authorization headers: never accepted", async () => {
    const before = await adminState(host);
    const printable = fc.string({
      unit: fc.constantFrom(..." !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~".split("")),
      maxLength: 120,
    });
    const near = fc
      .tuple(fc.nat(ADMIN_TOKEN.length - 1), fc.constantFrom(...ADMIN_TOKEN.split("")))
      .map(([i, c]) => ADMIN_TOKEN.slice(0, i) + (c === ADMIN_TOKEN[i] ? "~" : c) + ADMIN_TOKEN.slice(i + 1));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          printable,
          near.map((t) => `Bearer ${t}`),
          printable.map((t) => `Bearer ${t}`),
        ),
        fc.constantFrom(...ADMIN_ROUTES),
        async (authorization, route) => {
          const res = await host.app.inject({ method: "POST", url: route.url, payload: route.payload ?? {}, headers: { authorization } });
          return res.statusCode === 401;
        },
      ),
      { numRuns: 500 },
    );
    expect(await adminState(host)).toBe(before);
  });

  it("accept the right token (control), and are disabled (403) when no token is configured", async () => {
    const ok = await host.app.inject({
      method: "POST",
      url: "/admin/datanets/corpus-brown/rebuild",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(ok.statusCode).toBe(200);
    const noToken = await startHost(d, { env: { ROYALTY402_ADMIN_TOKEN: undefined as unknown as string } });
    try {
      for (const route of ADMIN_ROUTES) {
        for (const authorization of [undefined, `Bearer ${ADMIN_TOKEN}`, "Bearer "]) {
          const res = await noToken.app.inject({
            method: "POST",
            url: route.url,
            payload: route.payload ?? {},
            headers: authorization === undefined ? {} : { authorization },
          });
          expect([route.url, res.statusCode, res.json().error]).toEqual([route.url, 403, "admin_disabled"]);
        }
      }
    } finally {
      await noToken.close();
    }
  });
});

describe("challenge rate limit", () => {
  it("limits 402 challenges per client (429 + Retry-After); paid requests and other clients still go through", async () => {
    const challenge = (remoteAddress = "10.0.0.1") =>
      host.app.inject({ method: "POST", url: "/v1/completions", payload: completionBody(), remoteAddress });
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await challenge());
    expect(answers.map((r) => r.statusCode)).toEqual([402, 402, 402, 402, 402, 429, 429, 429]);
    const limited = answers[5];
    expect(limited.headers["retry-after"]).toMatch(/^\d+$/);
    expect(limited.json().error).toMatchObject({ code: "challenge_rate_limited", type: "rate_limit_error" });
    expect(limited.headers["payment-required"]).toBeUndefined();

    // Another client is not affected.
    expect((await challenge("10.0.0.2")).statusCode).toBe(402);
    // A request carrying a payment from the limited client is not a challenge: it is verified (and paid).
    const req = decodePaymentRequiredHeader(answers[0].headers["payment-required"] as string).accepts[0];
    const payer = await fundedPayer(d);
    const { header } = await signedHeader(payer, req);
    const paid = await host.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: completionBody(),
      remoteAddress: "10.0.0.1",
      headers: { "payment-signature": header },
    });
    expect(paid.statusCode).toBe(200);
    const bad = await host.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: completionBody(),
      remoteAddress: "10.0.0.1",
      headers: { "payment-signature": "not-a-payment" },
    });
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, "invalid_payload"]);
    // Free routes are not limited.
    expect((await host.app.inject({ method: "GET", url: "/v1/models", remoteAddress: "10.0.0.1" })).statusCode).toBe(200);
  });
});

describe("security headers", () => {
  it("every response carries them, refusals and errors included", async () => {
    const responses = {
      models: await host.app.inject({ method: "GET", url: "/v1/models" }),
      health: await host.app.inject({ method: "GET", url: "/healthz" }),
      challenge: await host.app.inject({ method: "POST", url: "/v1/completions", payload: completionBody(), remoteAddress: "10.9.9.9" }),
      badJson: await host.app.inject({
        method: "POST",
        url: "/v1/completions",
        payload: "{nope",
        headers: { "content-type": "application/json" },
      }),
      notFound: await host.app.inject({ method: "GET", url: "/nothing-here" }),
      admin: await host.app.inject({ method: "POST", url: "/admin/epochs/close" }),
      docs: await host.app.inject({ method: "GET", url: "/docs/json" }),
    };
    for (const [name, res] of Object.entries(responses)) {
      const h = res.headers;
      expect([name, h["x-content-type-options"]]).toEqual([name, "nosniff"]);
      expect([name, h["x-frame-options"]]).toEqual([name, "SAMEORIGIN"]);
      expect(h["content-security-policy"], name).toMatch(/default-src 'self'/);
      expect(h["content-security-policy"], name).toMatch(/frame-ancestors 'self'/);
      expect(h["content-security-policy"], name).toMatch(/object-src 'none'/);
      expect(h["strict-transport-security"], name).toMatch(/max-age=\d+/);
      expect([name, h["referrer-policy"]]).toEqual([name, "no-referrer"]);
      expect([name, h["cross-origin-opener-policy"]]).toEqual([name, "same-origin"]);
      expect(h["x-powered-by"], name).toBeUndefined();
    }
  });
});

describe("logs", () => {
  it("a full run at trace level logs no private key, admin token, payment signature or payment header", async () => {
    const payer = await fundedPayer(d);
    const req = await requirementsFor(host, completionBody(12));
    const headers: string[] = [];
    const signatures: string[] = [];
    const send = async (o: Parameters<typeof signedHeader>[2] = {}, signer: Wallet = payer) => {
      const { payment, header } = await signedHeader(signer, req, o);
      headers.push(header);
      signatures.push(payment.payload.signature as string);
      return {
        payment,
        header,
        res: await host.app.inject({
          method: "POST",
          url: "/v1/completions",
          payload: completionBody(12),
          headers: { "payment-signature": header },
        }),
      };
    };
    const paid = await send();
    expect(paid.res.statusCode).toBe(200);
    const redelivery = await host.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: completionBody(12),
      headers: { "payment-signature": paid.header },
    });
    expect([redelivery.statusCode, redelivery.headers["x-royalty402-redelivered"]]).toEqual([200, "true"]);
    expect((await send({ validBefore: 1n })).res.statusCode).toBe(402);
    expect((await send({}, new Wallet(Wallet.createRandom().privateKey))).res.statusCode).toBe(402);
    // Streaming, and a chat completion.
    const streamed = await signedHeader(payer, req);
    headers.push(streamed.header);
    signatures.push(streamed.payment.payload.signature as string);
    expect(
      (
        await host.app.inject({
          method: "POST",
          url: "/v1/completions",
          payload: completionBody(12, { stream: true }),
          headers: { "payment-signature": streamed.header },
        })
      ).statusCode,
    ).toBe(200);
    // Admin, right and wrong.
    await host.app.inject({ method: "POST", url: "/admin/epochs/close", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    await host.app.inject({ method: "POST", url: "/admin/epochs/close", headers: { authorization: `Bearer ${ADMIN_TOKEN}-wrong` } });
    // The facilitator API with a payment in the body.
    const viaApi = await signedHeader(payer, req);
    signatures.push(viaApi.payment.payload.signature as string);
    await host.app.inject({
      method: "POST",
      url: "/facilitator/verify",
      payload: { x402Version: 2, paymentPayload: viaApi.payment, paymentRequirements: req },
    });
    await host.app.inject({
      method: "POST",
      url: "/facilitator/verify",
      payload: {
        x402Version: 2,
        paymentPayload: { ...viaApi.payment, payload: { ...viaApi.payment.payload, signature: `${viaApi.payment.payload.signature}ff` } },
        paymentRequirements: req,
      },
    });
    // Tokens in query strings (a held output's retrieval token; an admin token sent the wrong way).
    const retrievalToken = "held-output-retrieval-token-abcdef0123456789";
    await host.app.inject({ method: "GET", url: `/x402/outputs/0x${"ab".repeat(32)}?token=${retrievalToken}` });
    await host.app.inject({ method: "POST", url: `/admin/epochs/close?token=${ADMIN_TOKEN}` });
    // A payment header over the limit and a malformed one (echoed nowhere).
    await host.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: completionBody(12),
      headers: { "payment-signature": `${paid.header}${"A".repeat(9000)}` },
    });
    await host.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: completionBody(12),
      headers: { "payment-signature": paid.header.slice(0, 100) },
    });

    const text = logLines.join("");
    expect(text.length).toBeGreaterThan(10_000); // trace level really logged the run
    const secrets = [d.relayerKey, d.oracleKey, ADMIN_TOKEN, payer.privateKey, retrievalToken];
    const needles = [
      ...secrets,
      ...secrets.map((s) => s.replace(/^0x/, "")),
      ...signatures,
      ...signatures.map((s) => s.slice(2)),
      ...headers,
      encodePaymentSignatureHeader(paid.payment).slice(0, 64),
    ];
    const found = needles.filter((n) => text.includes(n));
    if (found.length)
      console.log(
        logLines
          .filter((l) => found.some((n) => l.includes(n)))
          .slice(0, 5)
          .join("\n"),
      );
    expect(found.map((n) => `${n.slice(0, 10)}…`)).toEqual([]);
  });
});
