// The local chain `royalty402 chain` and the demo start has the upto contracts at their canonical
// addresses, and the splitter ABI fragments the upto facilitator encodes exist in the compiled splitter.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { toFunctionSignature, toEventSignature, type AbiFunction, type AbiEvent } from "viem";
import { startLocalChain } from "../../server/chain/local.ts";
import { PROJECT_ROOT } from "../../server/chain/hardhat.ts";
import { MULTICALL3_ADDRESS, PERMIT2_ADDRESS, X402_UPTO_PROXY_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { uptoSplitterAbi } from "../../server/facilitator/upto/abi.ts";

describe("upto contracts on the local chain", () => {
  it("startLocalChain installs Permit2, the upto proxy and Multicall3 at their canonical addresses", async () => {
    const chain = await startLocalChain();
    try {
      for (const address of [PERMIT2_ADDRESS, X402_UPTO_PROXY_ADDRESS, MULTICALL3_ADDRESS]) {
        expect((await chain.provider.getCode(address)).length).toBeGreaterThan(2);
      }
    } finally {
      await chain.close();
    }
  });

  it("every splitter fragment the upto facilitator encodes is in the compiled RoyaltySplitter", () => {
    const artifact = JSON.parse(
      readFileSync(join(PROJECT_ROOT, "artifacts/contracts/RoyaltySplitter.sol/RoyaltySplitter.json"), "utf8"),
    ) as { abi: Array<AbiFunction | AbiEvent> };
    const signature = (item: AbiFunction | AbiEvent) => (item.type === "event" ? toEventSignature(item) : toFunctionSignature(item));
    const compiled = new Set(artifact.abi.filter((i) => i.type === "function" || i.type === "event").map(signature));
    for (const item of uptoSplitterAbi) expect(compiled, signature(item)).toContain(signature(item));
  });
});
