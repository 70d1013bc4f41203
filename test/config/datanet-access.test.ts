// A datanet's `access` section (paid search and documents): defaults, what is sold, and
// one-line errors naming the field.
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../../server/config/index.ts";

const OWNER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const GUARDIAN = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

function withAccess(access: unknown) {
  return {
    chain: { rpcUrl: "http://127.0.0.1:8545", chainId: 31337, token: OWNER, factory: OWNER, guardian: GUARDIAN },
    datanets: [{ id: "shop", seed: { corpus: "brown", documents: 3, contributors: 2 }, access }],
  };
}

function errorOf(access: unknown): ConfigError {
  try {
    validateConfig(withAccess(access), { env: {} });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).not.toContain("\n");
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("datanet access configuration", () => {
  it("is off without an access section; documents are not sold unless switched on", () => {
    const none = validateConfig(withAccess(undefined), { env: {} }).config.datanets[0];
    expect(none.access).toBeNull();
    const { access } = validateConfig(withAccess({ pricePerSearch: "1500", owner: OWNER }), { env: {} }).config.datanets[0];
    expect(access).toEqual({
      pricePerSearch: 1500n,
      pricePerDocument: null,
      sellDocuments: false,
      maxResults: 5,
      owner: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      ownerBps: 1000,
      protocolBps: 0,
      challengePeriod: 1,
      guardian: GUARDIAN,
      protocolRecipient: null,
      salt: null,
      createSplitter: true,
    });
  });

  it("sells documents with sellDocuments and a document price", () => {
    const raw = { pricePerDocument: 9000, sellDocuments: true, maxResults: 10, owner: OWNER };
    const { access } = validateConfig(withAccess(raw), { env: {} }).config.datanets[0];
    expect(access).toMatchObject({ pricePerSearch: null, pricePerDocument: 9000n, sellDocuments: true, maxResults: 10 });
  });

  it("refuses an access section that sells nothing, lacks a price or an owner, or has a typo", () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ owner: OWNER }, "datanets[0].access", /sells nothing/],
      [{ pricePerDocument: "5", owner: OWNER }, "datanets[0].access", /sells nothing/],
      [{ sellDocuments: true, pricePerSearch: "5", owner: OWNER }, "datanets[0].access.pricePerDocument", /required when sellDocuments/],
      [{ pricePerSearch: "0", owner: OWNER }, "datanets[0].access.pricePerSearch", /greater than 0/],
      [{ pricePerSearch: "1.5", owner: OWNER }, "datanets[0].access.pricePerSearch", /whole number/],
      [{ pricePerSearch: "5" }, "datanets[0].access.owner", /address/],
      [{ pricePerSearch: "5", owner: OWNER, maxResults: 0 }, "datanets[0].access.maxResults", /\[1, 50\]/],
      [{ pricePerSearch: "5", owner: OWNER, ownerBps: 9000, protocolBps: 2000 }, "datanets[0].access.protocolBps", /at most 10000/],
      [{ pricePerSearch: "5", owner: OWNER, sellsDocuments: true }, "datanets[0].access.sellsDocuments", /unknown field/],
      [{ pricePerSearch: "5", owner: OWNER, privateKey: "0x00" }, "datanets[0].access.privateKey", /environment only/],
    ];
    for (const [access, field, pattern] of cases) {
      const e = errorOf(access);
      expect([e.field, e.message]).toEqual([field, expect.stringMatching(pattern)]);
    }
  });
});
