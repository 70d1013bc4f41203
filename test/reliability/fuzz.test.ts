// Bad input, property-based: 10,000+ generated requests against the model host
// (createApp, real in-process chain, real SQLite ledger, app.inject) combining bad payment
// headers — malformed base64 and JSON, wrong types, huge values, wrong network, asset, payTo or
// amount, expired and not-yet-valid authorizations, signatures by another key or for another
// domain, used nonces, unfunded payers, oversized and repeated headers — with bad request bodies:
// invalid JSON, wrong types, huge values, unknown models, oversized bodies, wrong content types.
// Every answer is a 4xx with a reason code, never a 5xx; the process never crashes; the model
// never runs; the ledger never records a payment; the splitter never receives a unit.
//
// Soundness: every payment header here derives from a payment that is invalid by construction
// (a signed field no single edit can repair: used nonce, expired, foreign key or domain,
// unfunded payer...), so no generated case can be a real payment. Signatures are made once,
// before the property runs. The seed is printed; RELIABILITY_SEED=<n> replays a run.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { Wallet, ethers as E } from "ethers";
import { Reason } from "../../server/facilitator/index.ts";
import { recordResults } from "../../scripts/shared/results.ts";
import {
  MAX_TOKENS_LIMIT,
  MODEL,
  completionBody,
  deployChain,
  fundedPayer,
  requirementsFor,
  signedHeader,
  startHost,
  type DeployedChain,
  type Host,
} from "./support/host.ts";

const RUNS = Number(process.env.RELIABILITY_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);
const DEEP_MAX_TOKENS = 8; // the pre-signed payments pay for this request size

let d: DeployedChain;
let host: Host;
let req: PaymentRequirements;
let splitterBalance0: bigint;
const crashes: unknown[] = [];
const onCrash = (e: unknown) => void crashes.push(e);

/** Pre-signed payments, each refused for a known reason whatever the body's price. */
const pool: Array<{ name: string; payment: PaymentPayload; reason: string }> = [];

const balanceOf = async (address: string) => (await (d.token.getFunction("balanceOf") as any)(address)) as bigint;

beforeAll(async () => {
  process.on("unhandledRejection", onCrash);
  process.on("uncaughtException", onCrash);
  d = await deployChain();
  host = await startHost(d);
  req = await requirementsFor(host, completionBody(DEEP_MAX_TOKENS));
  const payer = await fundedPayer(d);
  const unfunded = new Wallet(Wallet.createRandom().privateKey);
  const stranger = new Wallet(Wallet.createRandom().privateKey);
  const now = BigInt(Math.floor(Date.now() / 1000));
  const price = BigInt(req.amount);
  const sign = async (name: string, reason: string, wallet: Wallet, o: Parameters<typeof signedHeader>[2] = {}) =>
    pool.push({ name, reason, payment: (await signedHeader(wallet, req, o)).payment });

  // A correctly signed payment whose nonce is then used on-chain directly (not through us).
  const used = (await signedHeader(payer, req)).payment;
  const a = used.payload.authorization as Record<string, string>;
  const usdc = d.token.connect(d.signers[7]) as any;
  await (
    await usdc["transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"](
      a.from,
      a.to,
      a.value,
      a.validAfter,
      a.validBefore,
      a.nonce,
      used.payload.signature,
    )
  ).wait();
  pool.push({ name: "nonce used on-chain elsewhere", reason: Reason.nonceUsed, payment: used });

  await sign("expired", Reason.validBefore, payer, { validBefore: now - 60n });
  await sign("expires within the settlement margin", Reason.validBefore, payer, { validBefore: now + 3n });
  await sign("not yet valid", Reason.validAfter, payer, { validAfter: now + 3600n });
  await sign("authorizes one unit less", Reason.valueMismatch, payer, { value: price - 1n });
  await sign("authorizes one unit more", Reason.valueMismatch, payer, { value: price + 1n });
  await sign("authorizes a transfer to someone else", Reason.recipientMismatch, payer, { to: stranger.address });
  await sign("signed by another key", Reason.signature, stranger, { from: payer.address });
  await sign("signed for another chain", Reason.signature, payer, { domain: { chainId: 1n } });
  await sign("signed for another token name", Reason.signature, payer, { domain: { name: "USDC" } });
  await sign("signed for another token contract", Reason.signature, payer, { domain: { verifyingContract: stranger.address } });
  await sign("payer holds nothing", Reason.insufficientBalance, unfunded);
  splitterBalance0 = await balanceOf(host.payTo);
});

afterAll(async () => {
  process.off("unhandledRejection", onCrash);
  process.off("uncaughtException", onCrash);
  await host?.close();
});

// ---------- generators ----------

type BodyCase = { path: string; payload: string; contentType: string | null };
type HeaderCase = { headers: Record<string, string | string[]>; label: string };

const PATHS = ["/v1/completions", "/v1/chat/completions"];
const printable = fc.string({
  unit: fc.constantFrom(..." !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~".split("")),
  maxLength: 300,
});
const hex = (bytes: fc.Arbitrary<number>) => bytes.chain((n) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => E.hexlify(b)));
const hugeNumber = fc.oneof(
  fc.constantFrom(
    "9".repeat(78),
    "9".repeat(79),
    "9".repeat(400),
    ((1n << 256n) - 1n).toString(),
    (1n << 256n).toString(),
    "-1",
    "0",
    "1e3",
    " 1080",
    "1080.0",
    "0x438",
    "",
    "NaN",
    "Infinity",
  ),
  fc.bigInt({ min: -(1n << 300n), max: 1n << 300n }).map(String),
);
/** Any value of any type, biased to values that break parsers and number handling. */
const anyValue = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  hugeNumber,
  fc.double(),
  fc.integer(),
  fc.constantFrom(null, true, false, [], {}, Number.MAX_SAFE_INTEGER + 2, 1e308, -0),
  hex(fc.integer({ min: 0, max: 70 })),
  fc.constantFrom("eip155:8453", "eip155:1", "solana:mainnet", "eip155:", "eip155:31337 ", "EIP155:31337", "exact ", "upto", "EXACT"),
  fc.constant(E.ZeroAddress),
  hex(fc.constant(20)),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => "z".repeat(n)),
);

const sameValue = (a: unknown, b: unknown) =>
  JSON.stringify(typeof a === "string" ? a.toLowerCase() : a) === JSON.stringify(typeof b === "string" ? b.toLowerCase() : b);
const FIELDS: string[][] = [
  ["x402Version"],
  ["accepted"],
  ["accepted", "scheme"],
  ["accepted", "network"],
  ["accepted", "asset"],
  ["accepted", "payTo"],
  ["accepted", "amount"],
  ["accepted", "extra"],
  ["accepted", "extra", "name"],
  ["payload"],
  ["payload", "signature"],
  ["payload", "authorization"],
  ["payload", "authorization", "from"],
  ["payload", "authorization", "to"],
  ["payload", "authorization", "value"],
  ["payload", "authorization", "validAfter"],
  ["payload", "authorization", "validBefore"],
  ["payload", "authorization", "nonce"],
];

/** A copy of `payment` with one field replaced (undefined: removed). */
function edit(payment: PaymentPayload, path: string[], value: unknown): unknown {
  const copy = structuredClone(payment) as unknown as Record<string, any>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    if (!node[key] || typeof node[key] !== "object") return copy;
    node = node[key];
  }
  const last = path.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const poolPayment = () => fc.integer({ min: 0, max: pool.length - 1 }).map((i) => pool[i]);

const headerArb = (): fc.Arbitrary<HeaderCase> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant({ headers: {}, label: "no payment" }) },
    { weight: 2, arbitrary: printable.map((s) => ({ headers: { "payment-signature": s }, label: "random text" })) },
    {
      weight: 2,
      arbitrary: fc
        .uint8Array({ maxLength: 600 })
        .map((b) => ({ headers: { "payment-signature": Buffer.from(b).toString("base64") }, label: "base64 of random bytes" })),
    },
    {
      weight: 2,
      arbitrary: fc.json({ maxDepth: 3 }).map((j) => ({ headers: { "payment-signature": b64(j) }, label: "base64 of random JSON" })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          x402Version: fc.oneof(fc.constant(2), anyValue),
          accepted: fc.oneof(fc.object({ maxDepth: 1 }), anyValue),
          payload: fc.oneof(fc.object({ maxDepth: 2 }), anyValue),
        })
        .map((p) => ({ headers: { "payment-signature": b64(JSON.stringify(p)) }, label: "v2-shaped random payment" })),
    },
    {
      weight: 3,
      arbitrary: poolPayment().map((p) => ({
        headers: { "payment-signature": encodePaymentSignatureHeader(p.payment) },
        label: `pre-signed: ${p.name}`,
      })),
    },
    {
      weight: 10,
      arbitrary: fc
        .tuple(poolPayment(), fc.constantFrom(...FIELDS), fc.option(anyValue, { freq: 8, nil: undefined }))
        .filter(([p, path, value]) => {
          let original: any = p.payment;
          for (const k of path) original = original?.[k];
          return value === undefined ? original !== undefined : !sameValue(original, value);
        })
        .map(([p, path, value]) => ({
          headers: { "payment-signature": b64(JSON.stringify(edit(p.payment, path, value))) },
          label: `edited ${path.join(".")}`,
        })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(poolPayment(), fc.nat(), fc.constantFrom("truncate", "flip", "pad", "space", "urlsafe")).map(([p, at, how]) => {
        const h = encodePaymentSignatureHeader(p.payment);
        const i = at % h.length;
        const mangled =
          how === "truncate"
            ? h.slice(0, i)
            : how === "flip"
              ? `${h.slice(0, i)}${h[i] === "A" ? "B" : "A"}${h.slice(i + 1)}`
              : how === "pad"
                ? `${h}===`
                : how === "space"
                  ? `${h.slice(0, i)} ${h.slice(i)}`
                  : h.replace(/\+/g, "-").replace(/\//g, "_");
        return { headers: { "payment-signature": mangled }, label: `mangled base64 (${how})` };
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.integer({ min: 8193, max: 60_000 }).map((n) => "A".repeat(n)),
          fc
            .tuple(poolPayment(), fc.integer({ min: 8200, max: 40_000 }))
            .map(([p, n]) => b64(JSON.stringify({ ...p.payment, padding: "x".repeat(n) }))),
        )
        .map((h) => ({ headers: { "payment-signature": h }, label: "oversized payment header" })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(poolPayment(), poolPayment()).map(([a, b]) => ({
        headers: { "payment-signature": [encodePaymentSignatureHeader(a.payment), encodePaymentSignatureHeader(b.payment)] },
        label: "two payment headers",
      })),
    },
    {
      weight: 1,
      arbitrary: poolPayment().map((p) => ({
        headers: { "x-payment": encodePaymentSignatureHeader(p.payment) },
        label: "v1 X-PAYMENT header",
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc
            .integer({ min: 10, max: 4000 })
            .map((depth) => `{"x402Version":2,"accepted":${"[".repeat(depth)}${"]".repeat(depth)},"payload":{}}`),
          fc.constantFrom(
            '{"x402Version":2,"__proto__":{"accepted":{},"payload":{}}}',
            '{"x402Version":2,"accepted":{"__proto__":{"scheme":"exact"}},"payload":{"authorization":{"__proto__":{}}}}',
            '{"x402Version":2,"accepted":{"constructor":{"prototype":{}}},"payload":{"signature":{"toString":1}}}',
          ),
        )
        .map((j) => ({ headers: { "payment-signature": b64(j) }, label: "nested or prototype-keyed payment" })),
    },
  );

const json = (path: string, body: unknown): BodyCase => ({ path, payload: JSON.stringify(body), contentType: "application/json" });
const chatBody = (maxTokens: number, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: "user", content: "The jury said" }],
  max_tokens: maxTokens,
  ...extra,
});
const BODY_FIELDS = [
  "model",
  "prompt",
  "messages",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "n",
  "stream",
  "stream_options",
  "stop",
  "seed",
  "user",
  "logprobs",
];

const bodyArb = (): fc.Arbitrary<BodyCase> =>
  fc.oneof(
    // The request the pre-signed payments pay for: the payment checks are reached.
    {
      weight: 12,
      arbitrary: fc.constantFrom(
        json(PATHS[0], completionBody(DEEP_MAX_TOKENS)),
        json(PATHS[1], chatBody(DEEP_MAX_TOKENS)),
        json(PATHS[0], completionBody(DEEP_MAX_TOKENS, { stream: true })),
      ),
    },
    // Valid bodies of another price.
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...PATHS), fc.integer({ min: 1, max: MAX_TOKENS_LIMIT }))
        .map(([path, n]) => json(path, path === PATHS[0] ? completionBody(n) : chatBody(n))),
    },
    // One field of a valid body replaced by anything (or removed).
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(...PATHS), fc.constantFrom(...BODY_FIELDS), fc.option(anyValue, { freq: 8, nil: undefined }))
        .map(([path, field, value]) => {
          const body: Record<string, unknown> = path === PATHS[0] ? completionBody(DEEP_MAX_TOKENS) : chatBody(DEEP_MAX_TOKENS);
          if (value === undefined) delete body[field];
          else body[field] = value;
          return json(path, body);
        }),
    },
    // Huge values.
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...PATHS),
          fc.oneof(fc.integer({ min: MAX_TOKENS_LIMIT + 1, max: 2 ** 31 }), fc.constantFrom(1e300, 2 ** 53 + 1, -1, 0, 1.5)),
        )
        .map(([path, n]) =>
          json(path, path === PATHS[0] ? completionBody(DEEP_MAX_TOKENS, { max_tokens: n }) : chatBody(DEEP_MAX_TOKENS, { max_tokens: n })),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1_048_577, max: 1_300_000 })
        .map((n) => json(PATHS[0], completionBody(DEEP_MAX_TOKENS, { prompt: "x".repeat(n) }))),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 2_000, max: 20_000 })
        .map((n) =>
          json(PATHS[1], chatBody(DEEP_MAX_TOKENS, { messages: Array.from({ length: n }, () => ({ role: "user", content: "a" })) })),
        ),
    },
    // Structured chat messages of every role and content-part kind.
    {
      weight: 2,
      arbitrary: fc
        .array(
          fc.record({
            role: fc.constantFrom("user", "system", "assistant", "developer", "tool", "function", "x"),
            content: fc.oneof(
              printable,
              fc.constant(null),
              fc.array(
                fc.record(
                  {
                    type: fc.constantFrom("text", "image_url", "input_audio", "refusal", "x"),
                    text: fc.option(printable, { nil: undefined }),
                  },
                  { requiredKeys: ["type"] },
                ),
                { maxLength: 4 },
              ),
            ),
          }),
          { maxLength: 6 },
        )
        .map((messages) => json(PATHS[1], chatBody(DEEP_MAX_TOKENS, { messages }))),
    },
    // Deep nesting, prototype keys, query strings.
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...PATHS), fc.integer({ min: 100, max: 50_000 }), fc.constantFrom("prompt", "messages", "stop", "model"))
        .map(([path, depth, field]) => ({
          path,
          payload:
            `{"model":${JSON.stringify(MODEL)},"max_tokens":${DEEP_MAX_TOKENS},` +
            `${JSON.stringify(field)}:${"[".repeat(depth)}${"]".repeat(depth)}}`,
          contentType: "application/json",
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...PATHS),
          fc.constantFrom(
            '{"__proto__":{"model":"M"}}',
            '{"constructor":{"prototype":{"model":"M"}},"model":"M","prompt":"x"}',
            '{"model":"M","prompt":"x","__proto__":{"max_tokens":1}}',
            '{"model":"M","prompt":"x","max_tokens":8,"max_tokens":9}',
          ),
        )
        .map(([path, raw]) => ({
          path,
          payload: raw.replaceAll('"M"', JSON.stringify(MODEL)),
          contentType: "application/json",
        })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...PATHS), fc.webQueryParameters()).map(([path, q]) => ({
        path: `${path}?${q}`,
        payload: JSON.stringify(completionBody(DEEP_MAX_TOKENS)),
        contentType: "application/json",
      })),
    },
    // Unknown models.
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...PATHS),
          printable.filter((m) => m !== MODEL),
        )
        .map(([path, model]) =>
          json(path, path === PATHS[0] ? completionBody(DEEP_MAX_TOKENS, { model }) : chatBody(DEEP_MAX_TOKENS, { model })),
        ),
    },
    // Not a JSON object at all.
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...PATHS), fc.json({ maxDepth: 3 }))
        .map(([path, payload]) => ({ path, payload, contentType: "application/json" })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...PATHS), printable)
        .map(([path, payload]) => ({ path, payload, contentType: "application/json" })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...PATHS),
          fc.constantFrom(
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-16",
            "application/xml",
            null,
          ),
        )
        .map(([path, contentType]) => ({ path, payload: JSON.stringify(completionBody(DEEP_MAX_TOKENS)), contentType })),
    },
  );

// ---------- the property ----------

const REASON = /^[a-z0-9_]+$/;
const tally = {
  cases: 0,
  byStatus: {} as Record<string, number>,
  byReason: {} as Record<string, number>,
  byHeaderKind: {} as Record<string, number>,
};

/** The reason code of a refusal on a /v1 route (OpenAI error shape), or null. */
function reasonOf(body: string): string | null {
  try {
    const code = JSON.parse(body)?.error?.code;
    return typeof code === "string" && REASON.test(code) ? code : null;
  } catch {
    return null;
  }
}

describe("bad input never gets through, never crashes, never charges", () => {
  it("every pre-signed bad payment is refused with its own reason code", async () => {
    for (const p of pool) {
      const res = await host.app.inject({
        method: "POST",
        url: "/v1/completions",
        payload: completionBody(DEEP_MAX_TOKENS),
        headers: { "payment-signature": encodePaymentSignatureHeader(p.payment) },
      });
      expect([p.name, res.statusCode, reasonOf(res.body)]).toEqual([p.name, 402, p.reason]);
      expect(decodePaymentRequiredHeader(res.headers["payment-required"] as string).error).toBe(p.reason);
    }
  });

  it(`${RUNS} generated requests: 4xx with a reason code, never 5xx, nothing charged`, async () => {
    console.log(`reliability-fuzz: seed ${SEED} (RELIABILITY_SEED=${SEED} replays it), ${RUNS} runs`);
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(bodyArb(), headerArb(), async (body, header) => {
        const res = await host.app.inject({
          method: "POST",
          url: body.path,
          payload: body.payload,
          headers: { ...(body.contentType ? { "content-type": body.contentType } : {}), ...header.headers },
        });
        const status = res.statusCode;
        const reason = reasonOf(res.body);
        tally.cases++;
        tally.byStatus[status] = (tally.byStatus[status] ?? 0) + 1;
        tally.byReason[reason ?? "<none>"] = (tally.byReason[reason ?? "<none>"] ?? 0) + 1;
        const kind = header.label.replace(/^(edited|pre-signed): .*/, "$1").replace(/ \(.*\)$/, "");
        tally.byHeaderKind[kind] = (tally.byHeaderKind[kind] ?? 0) + 1;
        const context =
          `${status} ${res.body.slice(0, 300)} | header: ` +
          `${header.label} | body: ${body.path} ${body.contentType} ` +
          `${body.payload.slice(0, 200)}`;
        if (status < 400 || status >= 500) throw new Error(`not a 4xx: ${context}`);
        if (reason === null) throw new Error(`no reason code: ${context}`);
        if (status === 402 && !res.headers["payment-required"]) throw new Error(`402 without PAYMENT-REQUIRED: ${context}`);
        if (res.headers["payment-response"]) throw new Error(`a refusal carries PAYMENT-RESPONSE: ${context}`);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `reliability-fuzz: ${tally.cases} cases in ${seconds.toFixed(1)} s`,
      JSON.stringify(tally.byStatus),
      JSON.stringify(tally.byReason),
    );

    // Nothing got through: the model never ran, the ledger holds no payment, nothing was paid.
    expect(host.generations.count).toBe(0);
    expect(await host.ledger.listPayments({ limit: 10_000 })).toEqual([]);
    expect(await balanceOf(host.payTo)).toBe(splitterBalance0);
    expect(crashes).toEqual([]);
    // The variety the generators promise was really exercised.
    expect(Object.keys(tally.byReason).length).toBeGreaterThan(15);
    for (const code of [400, 402, 404, 413, 415, 431]) expect(tally.byStatus[code], `status ${code}`).toBeGreaterThan(0);
    // Still healthy after all that.
    expect((await host.app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);

    await recordResults("badInput", {
      casesTried: tally.cases,
      seed: SEED,
      seconds: Math.round(seconds * 10) / 10,
      non4xx: 0,
      paymentsRecorded: 0,
      handlerRuns: host.generations.count,
      byStatus: tally.byStatus,
      byReason: tally.byReason,
      byHeaderKind: tally.byHeaderKind,
      preSignedBadPayments: pool.map((p) => ({ case: p.name, reason: p.reason })),
    });
  });

  it("over a real socket: oversized headers and malformed HTTP get a JSON reason code, the server keeps serving", async () => {
    const base = await host.server.listen({ port: 0 });
    const port = Number(new URL(base).port);
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, "127.0.0.1");
        let data = "";
        socket.on("data", (c) => (data += c));
        socket.on("close", () => resolve(data));
        socket.on("error", () => resolve(data));
        socket.end(text);
      });
    const parse = (answer: string) => {
      const [head, body] = answer.split("\r\n\r\n");
      return { status: Number(head.split(" ")[1]), body: JSON.parse(body) as { error: string } };
    };
    const big = await raw(
      `POST /v1/completions HTTP/1.1\r\nHost: ` +
        `x\r\nContent-Type: application/json\r\nPayment-Signature: ` +
        `${"A".repeat(40_000)}\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(parse(big)).toMatchObject({ status: 431, body: { error: "header_too_large" } });
    const many = await raw(
      `GET /v1/models HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join("\r\n")}\r\n\r\n`,
    );
    expect(parse(many).status).toBeGreaterThanOrEqual(400);
    expect(parse(many).body.error).toMatch(REASON);
    for (const junk of [
      "GARBAGE\r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]) {
      expect(parse(await raw(junk))).toMatchObject({ status: 400, body: { error: "bad_request" } });
    }
    // A body over the limit, streamed chunked (no Content-Length to refuse it early).
    const chunk = "x".repeat(64 * 1024);
    const chunked =
      `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: ` +
      `application/json\r\nTransfer-Encoding: chunked\r\nConnection: ` +
      `close\r\n\r\n${`${chunk.length.toString(16)}\r\n${chunk}\r\n`.repeat(20)}0\r\n\r\n`;
    const tooBig = parse(await raw(chunked));
    expect(tooBig.status).toBe(413);
    expect((tooBig.body as unknown as { error: { code: string } }).error.code).toBe("body_too_large");
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(crashes).toEqual([]);
  });
});
