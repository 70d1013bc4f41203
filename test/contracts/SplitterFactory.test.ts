// SplitterFactory: CREATE2 clones whose address commits to (config, salt), idempotent creation,
// config validation, SplitterCreated.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { deployStack, type SplitterConfig, type Stack } from "../../scripts/shared/stack.ts";
import type { RoyaltySplitter, SplitterFactory } from "../../types/ethers-contracts/index.ts";
import { eventsOf, expectRevert, mined } from "./support.ts";

let s: Stack;
let factory: SplitterFactory;
let base: SplitterConfig;

beforeAll(async () => {
  s = await deployStack();
  factory = s.factory;
  base = s.config;
});

const configTuple = (c: SplitterConfig) => [
  c.token,
  c.owner,
  c.facilitator,
  c.oracle,
  c.guardian,
  c.protocolRecipient,
  BigInt(c.ownerBps),
  BigInt(c.protocolBps),
  BigInt(c.challengePeriod),
];

let saltCounter = 0;
const freshSalt = () => E.id(`factory-test:${saltCounter++}`);

describe("implementation", () => {
  it("is a RoyaltySplitter that refuses to be used directly (NotAClone)", async () => {
    const implAddress = await factory.implementation();
    expect((await s.ethers.provider.getCode(implAddress)).length).toBeGreaterThan(2);
    const impl = (await s.ethers.getContractAt("RoyaltySplitter", implAddress)) as unknown as RoyaltySplitter;
    await expectRevert(impl.config(), impl, "NotAClone");
  });
});

describe("predictSplitter / createSplitter", () => {
  it("predicts the address before deployment; createSplitter deploys exactly there and emits SplitterCreated", async () => {
    const salt = freshSalt();
    const predicted = await factory.predictSplitter(base, salt);
    expect(await s.ethers.provider.getCode(predicted)).toBe("0x");
    expect(await factory.createSplitter.staticCall(base, salt)).toBe(predicted);

    const receipt = await mined(factory.createSplitter(base, salt));
    const code = await s.ethers.provider.getCode(predicted);
    // ERC-1167 proxy (0x2d bytes) followed by the abi-encoded Config as immutable arguments.
    const encoded = E.AbiCoder.defaultAbiCoder().encode(
      ["tuple(address,address,address,address,address,address,uint16,uint16,uint32)"],
      [configTuple(base)],
    );
    expect(E.dataLength(code)).toBe(0x2d + E.dataLength(encoded));
    expect(E.dataSlice(code, 0x2d)).toBe(encoded);
    expect(code.toLowerCase()).toContain((await factory.implementation()).slice(2).toLowerCase());

    const events = eventsOf(receipt, factory, "SplitterCreated");
    expect(events).toHaveLength(1);
    const ev = events[0];
    expect(ev.args.splitter).toBe(predicted);
    expect(ev.args.owner).toBe(base.owner);
    expect(ev.args.token).toBe(base.token);
    expect(ev.args.salt).toBe(salt);
    expect([...ev.args.config]).toEqual(configTuple(base));

    const splitter = (await s.ethers.getContractAt("RoyaltySplitter", predicted)) as unknown as RoyaltySplitter;
    expect([...(await splitter.config())]).toEqual(configTuple(base));
  });

  it("is idempotent: a second call returns the same address, does not revert and emits nothing", async () => {
    const salt = freshSalt();
    const first = await factory.createSplitter.staticCall(base, salt);
    await mined(factory.createSplitter(base, salt));
    const codeBefore = await s.ethers.provider.getCode(first);
    expect(await factory.createSplitter.staticCall(base, salt)).toBe(first);
    const again = await mined(factory.connect(s.roles.keeper).createSplitter(base, salt));
    expect(again.status).toBe(1);
    expect(eventsOf(again, factory, "SplitterCreated")).toHaveLength(0);
    expect(again.logs).toHaveLength(0);
    expect(await s.ethers.provider.getCode(first)).toBe(codeBefore);
    expect(await factory.predictSplitter(base, salt)).toBe(first);
  });

  it("the address of the stack's splitter is the one predicted for its config and salt", async () => {
    expect(await factory.predictSplitter(s.config, s.salt)).toBe(await s.splitter.getAddress());
  });

  it("a different salt or any different config field gives a different address", async () => {
    const salt = freshSalt();
    const reference = await factory.predictSplitter(base, salt);
    const addresses = new Set<string>([reference, await factory.predictSplitter(base, freshSalt())]);
    const someone = s.others[0].address;
    const otherToken = await (await s.ethers.deployContract("TestUSDC")).getAddress();
    const variants: Partial<SplitterConfig>[] = [
      { token: otherToken },
      { owner: someone },
      { facilitator: someone },
      { oracle: someone },
      { guardian: someone },
      { protocolRecipient: someone },
      { ownerBps: base.ownerBps + 1 },
      { protocolBps: base.protocolBps + 1 },
      { challengePeriod: base.challengePeriod + 1 },
    ];
    for (const v of variants) addresses.add(await factory.predictSplitter({ ...base, ...v }, salt));
    expect(addresses.size).toBe(variants.length + 2);
  });

  it("another factory predicts other addresses for the same config and salt", async () => {
    const other = (await s.ethers.deployContract("SplitterFactory", [1])) as unknown as SplitterFactory;
    const salt = freshSalt();
    expect(await other.predictSplitter(base, salt)).not.toBe(await factory.predictSplitter(base, salt));
  });

  it("two splitters of different configs are independent contracts with their own config", async () => {
    const salt = freshSalt();
    const other = { ...base, ownerBps: 2500, protocolBps: 0, challengePeriod: 86_400 };
    await mined(factory.createSplitter(base, salt));
    await mined(factory.createSplitter(other, salt));
    const a = (await s.ethers.getContractAt("RoyaltySplitter", await factory.predictSplitter(base, salt))) as unknown as RoyaltySplitter;
    const b = (await s.ethers.getContractAt("RoyaltySplitter", await factory.predictSplitter(other, salt))) as unknown as RoyaltySplitter;
    expect(await a.getAddress()).not.toBe(await b.getAddress());
    expect((await a.config()).ownerBps).toBe(1000n);
    expect((await b.config()).ownerBps).toBe(2500n);
    expect((await b.config()).challengePeriod).toBe(86_400n);
  });
});

describe("validate", () => {
  const invalid: Array<[string, Partial<SplitterConfig>]> = [
    ["token is zero", { token: E.ZeroAddress }],
    ["owner is zero", { owner: E.ZeroAddress }],
    ["oracle is zero", { oracle: E.ZeroAddress }],
    ["cuts above 100%", { ownerBps: 9_000, protocolBps: 1_001 }],
    ["owner cut alone above 100%", { ownerBps: 10_001, protocolBps: 0 }],
    ["protocol cut alone above 100%", { ownerBps: 0, protocolBps: 10_001 }],
    ["uint16 maxima", { ownerBps: 65_535, protocolBps: 65_535 }],
    ["protocol cut without a recipient", { protocolRecipient: E.ZeroAddress, protocolBps: 1 }],
    ["guardian is zero", { guardian: E.ZeroAddress }],
    ["guardian is the oracle", { guardian: "oracle" }],
    ["challenge period is zero (below the factory's minimum)", { challengePeriod: 0 }],
    ["token is not a contract", { token: "owner" }],
    ["token answers every call (no real EIP-3009: forged authorizations would succeed)", { token: "catchAll" }],
  ];

  /** Overrides may name another field's value ("oracle") or the catch-all token, resolved here. */
  async function resolve(override: Partial<SplitterConfig>): Promise<SplitterConfig> {
    const config = { ...base, ...override };
    if (override.guardian === "oracle") config.guardian = base.oracle;
    if (override.token === "owner") config.token = base.owner;
    if (override.token === "catchAll") config.token = await (await s.ethers.deployContract("CatchAllToken")).getAddress();
    return config;
  }

  it.each(invalid)("rejects a config whose %s (validate, predictSplitter and createSplitter)", async (_label, override) => {
    const config = await resolve(override);
    await expectRevert(factory.validate(config), factory, "InvalidConfig");
    const salt = freshSalt();
    // No address for a config that can never be created: money sent there would be stuck.
    await expectRevert(factory.predictSplitter(config, salt), factory, "InvalidConfig");
    await expectRevert(factory.createSplitter(config, salt), factory, "InvalidConfig");
  });

  it("a factory's minimum challenge period is never zero, and configs below it are refused", async () => {
    await expectRevert(s.ethers.deployContract("SplitterFactory", [0]), factory, "InvalidMinChallengePeriod");
    const strict = (await s.ethers.deployContract("SplitterFactory", [3600])) as unknown as SplitterFactory;
    expect(await strict.minChallengePeriod()).toBe(3600n);
    await expectRevert(strict.validate({ ...base, challengePeriod: 3599 }), strict, "InvalidConfig");
    await strict.validate({ ...base, challengePeriod: 3600 });
  });

  const valid: Array<[string, Partial<SplitterConfig>]> = [
    ["cuts of exactly 100%", { ownerBps: 6_000, protocolBps: 4_000 }],
    ["no cuts at all", { ownerBps: 0, protocolBps: 0 }],
    ["no protocol cut and no protocol recipient", { protocolBps: 0, protocolRecipient: E.ZeroAddress }],
    ["no initial facilitator", { facilitator: E.ZeroAddress }],
    ["the longest challenge period", { challengePeriod: 2 ** 32 - 1 }],
  ];

  it.each(valid)("accepts %s", async (_label, override) => {
    const config = { ...base, ...override };
    await factory.validate(config);
    const salt = freshSalt();
    const receipt = await mined(factory.createSplitter(config, salt));
    expect(eventsOf(receipt, factory, "SplitterCreated")).toHaveLength(1);
    const splitter = (await s.ethers.getContractAt(
      "RoyaltySplitter",
      await factory.predictSplitter(config, salt),
    )) as unknown as RoyaltySplitter;
    expect([...(await splitter.config())]).toEqual(configTuple(config));
  });
});
