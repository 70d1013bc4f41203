// Configuration validation: defaults, environment overrides, secrets only from the environment,
// and one-line errors that name the field and say what is wrong.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, validateConfig } from "../../server/config/index.ts";

const OWNER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const FACTORY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const KEY_A = "0x" + "11".repeat(32);
const KEY_B = "0x" + "22".repeat(32);

function base(over: Record<string, unknown> = {}) {
  return {
    chain: { rpcUrl: "http://127.0.0.1:8545", chainId: 31337, token: TOKEN, factory: FACTORY },
    datanets: [{ id: "corpus-brown", seed: { corpus: "brown", documents: 10, contributors: 5 } }],
    models: [{ id: "brown-ngram", backend: "infinigram", datanet: "corpus-brown", pricePerRequest: "1000", owner: OWNER }],
    ...over,
  };
}

/** The error validation throws, as a ConfigError. */
function errorOf(raw: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    validateConfig(raw, { env });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

function expectError(raw: unknown, field: string, pattern: RegExp, env: NodeJS.ProcessEnv = {}) {
  const e = errorOf(raw, env);
  expect(e.field).toBe(field);
  expect(e.message).toMatch(pattern);
  expect(e.message.startsWith(`config: ${field}: `)).toBe(true);
  expect(e.message).not.toContain("\n");
  return e;
}

describe("config validation", () => {
  it("fills defaults and types amounts as bigint", () => {
    const { config, secrets } = validateConfig(base(), { env: {} });
    expect(config.server).toEqual({
      host: "127.0.0.1",
      port: 8402,
      publicUrl: null,
      logLevel: "info",
      bodyLimitBytes: 1048576,
      trustProxy: false,
      challengeRateLimit: { max: 1200, windowSeconds: 60 },
    });
    const channelClaims = { maxAgeSeconds: 60, maxCount: 1000, maxAmount: 10_000_000n };
    const facilitator = {
      mode: "embedded",
      expose: true,
      maxBatchSize: 32,
      maxWaitMs: 25,
      confirmTimeoutMs: 30000,
      channels: true,
      channelClaims,
    };
    expect(config.facilitator).toEqual(facilitator);
    expect(config.epochs).toEqual({
      enabled: true,
      intervalSeconds: 3600,
      paymentCount: null,
      checkIntervalSeconds: 5,
      publishTexts: false,
    });
    expect(config.database.sqlitePath).toBe(join(".data", "royalty402.sqlite"));
    const m = config.models[0];
    // The older pricePerRequest / pricePerMaxToken read as the per-token price.
    expect(m.price).toEqual({ perRequest: 1000n, perPromptToken: 0n, perOutputToken: 0n, min: null, max: null });
    expect(m.owner).toBe("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"); // checksummed
    expect(m).toMatchObject({
      ownerBps: 1000,
      protocolBps: 0,
      challengePeriod: 1,
      defaultMaxTokens: 128,
      maxTokensLimit: 1024,
      createSplitter: true,
      splitter: null,
      upstream: null,
    });
    expect(secrets).toEqual({ relayerKey: null, oracleKey: null, adminToken: null, databaseUrl: null });
  });

  it("reads a per-token price with its floor and ceiling", () => {
    const { pricePerRequest: _, ...model } = base().models[0];
    const price = { perRequest: "7", perPromptToken: "1", perOutputToken: 2, min: "10", max: "5000" };
    const { config } = validateConfig(base({ models: [{ ...model, price }] }), { env: {} });
    expect(config.models[0].price).toEqual({ perRequest: 7n, perPromptToken: 1n, perOutputToken: 2n, min: 10n, max: 5000n });
  });

  it("reads secrets and overrides from the environment", () => {
    const env = {
      ROYALTY402_RELAYER_KEY: KEY_A,
      ROYALTY402_ORACLE_KEY: KEY_B.slice(2), // 0x is optional
      ROYALTY402_ADMIN_TOKEN: "a-long-enough-admin-token",
      DATABASE_URL: "postgres://u:p@db/royalty",
      PORT: "9000",
      PUBLIC_URL: "https://models.example/",
      ROYALTY402_RPC_URL: "https://rpc.example/v1/KEY",
      LEDGER_SQLITE_PATH: "/tmp/x.sqlite",
    };
    const { config, secrets } = validateConfig(base(), { env });
    expect(secrets).toEqual({
      relayerKey: KEY_A,
      oracleKey: KEY_B,
      adminToken: "a-long-enough-admin-token",
      databaseUrl: "postgres://u:p@db/royalty",
    });
    expect(config.server.port).toBe(9000);
    expect(config.server.publicUrl).toBe("https://models.example");
    expect(config.chain.rpcUrl).toBe("https://rpc.example/v1/KEY");
    expect(config.database.sqlitePath).toBe("/tmp/x.sqlite");
    expect(config.database.sqliteThread).toBe(false); // the ledger on the event loop unless asked for its own thread
    expect(validateConfig(base({ database: { sqliteThread: true } }), { env }).config.database.sqliteThread).toBe(true);
    expectError(base({ database: { sqliteThread: "yes" } }), "database.sqliteThread", /must be true or false/);
    expect(JSON.stringify(config, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(KEY_A.slice(2));
  });

  it("refuses keys in the file", () => {
    expectError(base({ relayerKey: KEY_A }), "relayerKey", /environment only/);
    expectError(base({ chain: { ...base().chain, oracleKey: KEY_B } }), "chain.oracleKey", /environment only/);
    expectError(base({ facilitator: { mode: "embedded", privateKey: KEY_A } }), "facilitator.privateKey", /environment only/);
    expectError(base({ database: { url: "postgres://x" } }), "database.url", /environment only/);
    const m = { ...base().models[0], backend: "proxy", upstream: { url: "http://up", model: "m", apiKey: "sk-secret" } };
    expectError(base({ models: [m] }), "models[0].upstream.apiKey", /apiKeyEnv/);
  });

  it("never echoes a malformed key, and the two keys must differ", () => {
    const e = expectError(base(), "env.ROYALTY402_RELAYER_KEY", /32-byte hex private key/, { ROYALTY402_RELAYER_KEY: "0xdeadbeefSECRET" });
    expect(e.message).not.toContain("deadbeef");
    expect(e.message).not.toContain("SECRET");
    expectError(base(), "env.ROYALTY402_ORACLE_KEY", /must differ/, { ROYALTY402_RELAYER_KEY: KEY_A, ROYALTY402_ORACLE_KEY: KEY_A });
    const t = expectError(base(), "env.ROYALTY402_ADMIN_TOKEN", /at least 16/, { ROYALTY402_ADMIN_TOKEN: "short-tok" });
    expect(t.message).not.toContain("short-tok");
    expectError(base(), "env.DATABASE_URL", /postgres:\/\//, { DATABASE_URL: "mysql://u:p@h/d" });
  });

  it("names the field of each problem", () => {
    const model = base().models[0];
    const { pricePerRequest: _, ...noPrice } = model;
    const cases: Array<[unknown, string, RegExp]> = [
      [base({ chain: { ...base().chain, rpcUrl: "ftp://x" } }), "chain.rpcUrl", /http or https or ws or wss/],
      [base({ chain: { ...base().chain, chainId: 0 } }), "chain.chainId", /integer in \[1,/],
      [base({ chain: { rpcUrl: "http://127.0.0.1:8545", chainId: 1, factory: FACTORY } }), "chain.token", /required/],
      [base({ chain: { ...base().chain, token: "0x1234" } }), "chain.token", /20-byte address/],
      [
        base({ chain: { ...base().chain, factory: "0xE7F1725E7734CE288F8367E1BB143E90BB3F0512".replace("E7F", "e7F") } }),
        "chain.factory",
        /checksum/,
      ],
      [base({ chain: { ...base().chain, rpcurl: "x" } }), "chain.rpcurl", /unknown field/],
      [
        base({ models: [{ ...model, ownerBps: 9000, protocolBps: 2000, protocolRecipient: OWNER }] }),
        "models[0].protocolBps",
        /at most 10000, got 11000/,
      ],
      [base({ models: [{ ...model, protocolBps: 100 }] }), "models[0].protocolRecipient", /required when protocolBps > 0/],
      [base({ models: [{ ...model, pricePerRequest: "1.5" }] }), "models[0].pricePerRequest", /atomic token units/],
      [base({ models: [{ ...model, pricePerRequest: 12.5 }] }), "models[0].pricePerRequest", /atomic token units/],
      [base({ models: [{ ...model, pricePerRequest: "0" }] }), "models[0].pricePerRequest", /greater than 0/],
      [base({ models: [{ ...model, price: { perOutputToken: "2" } }] }), "models[0].pricePerRequest", /cannot be combined with price/],
      [base({ models: [{ ...noPrice, price: { perOutputToken: "2", min: "9", max: "5" } }] }), "models[0].price.min", /not exceed/],
      [base({ models: [{ ...noPrice, price: { perTokens: "2" } }] }), "models[0].price.perTokens", /unknown field/],
      [base({ models: [{ ...noPrice, price: { perPromptToken: "-1" } }] }), "models[0].price.perPromptToken", /atomic token units/],
      [base({ models: [{ ...noPrice, price: {} }] }), "models[0].price", /greater than 0/],
      [base({ models: [{ ...model, datanet: "nope" }] }), "models[0].datanet", /no declared datanet .*"corpus-brown"/],
      [base({ models: [{ ...model, backend: "gpt" }] }), "models[0].backend", /"infinigram", "proxy"/],
      [base({ models: [{ ...model, backend: "proxy" }] }), "models[0].upstream", /must be an object/],
      [
        base({ models: [{ ...model, upstream: { url: "http://x", model: "y" } }] }),
        "models[0].upstream",
        /only applies to backends "proxy" and "rag"/,
      ],
      [base({ models: [{ ...model, id: "has space" }] }), "models[0].id", /letters, digits/],
      [base({ models: [model, model] }), "models[1].id", /duplicate model id "brown-ngram"/],
      [base({ models: [{ ...model, owner: undefined }] }), "models[0].owner", /20-byte address/],
      [
        base({ models: [{ ...model, defaultMaxTokens: 2000, maxTokensLimit: 1000 }] }),
        "models[0].defaultMaxTokens",
        /must not exceed maxTokensLimit/,
      ],
      [base({ epochs: { intervalSeconds: null } }), "epochs", /intervalSeconds and\/or paymentCount/],
      [base({ epochs: { paymentCount: 0 } }), "epochs.paymentCount", /\[1, 1000000\]/],
      [
        base({ datanets: [{ id: "d", seed: { corpus: "brown", documents: 400, contributors: 3, offset: 200 } }] }),
        "datanets[0].seed",
        /at most 500/,
      ],
      [base({ facilitator: { mode: "url", url: "http://f" } }), "facilitator.address", /20-byte address/],
      [
        base({ facilitator: { mode: "url", url: "http://f", address: OWNER, maxBatchSize: 3 } }),
        "facilitator.maxBatchSize",
        /only applies to mode "embedded"/,
      ],
      [
        base({ facilitator: { channelClaims: { maxAgeSeconds: 900 } } }),
        "facilitator.channelClaims.maxAgeSeconds",
        /\[1, 600\]/, // a payer may withdraw what is unclaimed 900 s after asking
      ],
      [base({ facilitator: { channelClaims: { maxAmount: "0" } } }), "facilitator.channelClaims.maxAmount", /greater than 0/],
      [base({ facilitator: { channelClaims: { everyBlock: true } } }), "facilitator.channelClaims.everyBlock", /unknown field/],
      [
        base({ facilitator: { mode: "url", url: "http://f", address: OWNER, channelClaims: {} } }),
        "facilitator.channelClaims",
        /only applies to mode "embedded"/,
      ],
      [base({ server: { port: 70000 } }), "server.port", /\[0, 65535\]/],
      [base({ server: { logLevel: "loud" } }), "server.logLevel", /one of/],
      [[1, 2], "", /must be an object/],
    ];
    for (const [raw, field, pattern] of cases) expectError(raw, field, pattern);
    expectError(base(), "env.PORT", /integer/, { PORT: "eighty" });
  });

  it("allows an in-process chain without token and factory, and count-only epochs", () => {
    const { config } = validateConfig(base({ chain: { rpcUrl: "in-process" }, epochs: { paymentCount: 10 } }), { env: {} });
    expect(config.chain).toMatchObject({ rpcUrl: "in-process", chainId: 31337, token: null, factory: null });
    expect(config.epochs).toMatchObject({ intervalSeconds: null, paymentCount: 10 });
  });

  it("loads a file, resolving relative paths against its folder, and explains unreadable files", () => {
    const dir = mkdtempSync(join(tmpdir(), "r402-config-"));
    writeFileSync(
      join(dir, "ok.json"),
      JSON.stringify(base({ dataDir: "state", datanets: [{ id: "d", contributionsFile: "c.jsonl" }], models: [] })),
    );
    const loaded = loadConfig(join(dir, "ok.json"), {});
    expect(loaded.config.dataDir).toBe(join(dir, "state"));
    expect(loaded.config.database.sqlitePath).toBe(join(dir, "state", "royalty402.sqlite"));
    expect(loaded.config.datanets[0].contributionsFile).toBe(join(dir, "c.jsonl"));

    writeFileSync(join(dir, "bad.json"), '{ "chain": ');
    expect(() => loadConfig(join(dir, "bad.json"), {})).toThrow(/^config: file: .*bad\.json is not valid JSON/);
    expect(() => loadConfig(join(dir, "missing.json"), {})).toThrow(/^config: file: cannot read .*missing\.json: ENOENT$/);
  });
});
