// The Solidity cut and pool arithmetic (contracts/libraries/RoyaltyMath.sol) against the TypeScript
// formula the epoch builder and the demo use, on random inputs: they must agree to the unit.
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { contributorPool } from "../../server/epochs/build.ts";
import { fixedCuts } from "../../server/util/cuts.ts";
import { connectChain } from "../../scripts/shared/stack.ts";

let harness: { cuts: (r: bigint, o: number, p: number) => Promise<[bigint, bigint, bigint]> };

beforeAll(async () => {
  const chain = await connectChain();
  harness = (await chain.ethers.deployContract("RoyaltyMathHarness")) as never;
});

describe("RoyaltyMath", () => {
  it("cuts and pool equal the TypeScript formula for any revenue and shares", async () => {
    const shares = fc
      .integer({ min: 0, max: 10_000 })
      .chain((owner) => fc.tuple(fc.constant(owner), fc.integer({ min: 0, max: 10_000 - owner })));
    const received = fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: 0n, max: 2n ** 128n }));
    await fc.assert(
      fc.asyncProperty(received, shares, async (r, [ownerBps, protocolBps]) => {
        const [ownerCut, protocolCut, pool] = await harness.cuts(r, ownerBps, protocolBps);
        const ts = fixedCuts(r, ownerBps, protocolBps);
        expect([ownerCut, protocolCut, pool]).toEqual([ts.owner, ts.protocol, contributorPool(r, ownerBps, protocolBps)]);
        expect(ownerCut + protocolCut + pool).toBe(r);
      }),
      { numRuns: 300 },
    );
  });
});
