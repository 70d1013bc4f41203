// The operator's flow for a vetoed epoch, end to end: a model host on the in-process chain, paid
// outputs, an epoch posted with a challenge period and vetoed by the guardian (the model's epochs
// stop), `royalty402 epoch repost` posting the same document again, and after the new challenge
// period the epoch active with the ledger's roots, claimable, and the next epoch closing again.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { Contract, Wallet } from "ethers";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { SPLITTER_ABI } from "../../server/chain/abi.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { hostChain } from "../support/host-chain.ts";
import { pay } from "../x402/support/stack.ts";

const BIN = resolve(import.meta.dirname, "../../bin/royalty402.js");
const ADMIN = "repost-test-admin-token-0123456789";
const CHALLENGE = 3600;
const dataDir = mkdtempSync(join(tmpdir(), "r402-repost-"));
let chain: Chain;
let server: RoyaltyServer;
let token: Contract;
let base = "";

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const env = { ...process.env, ROYALTY402_ADMIN_TOKEN: ADMIN, ROYALTY402_URL: base };
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) =>
      done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function payOnce(prompt: string) {
  const payer = new Wallet(Wallet.createRandom().privateKey);
  await (await (token.getFunction("mint") as any)(payer.address, 100_000n)).wait();
  const init = (headers: Record<string, string> = {}) => ({
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "m", prompt, max_tokens: 16 }),
  });
  const challenge = await fetch(`${base}/v1/completions`, init());
  const requirements = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0] as PaymentRequirements;
  const res = await fetch(
    `${base}/v1/completions`,
    init({ "payment-signature": encodePaymentSignatureHeader(await pay(payer, requirements)) }),
  );
  expect(res.status).toBe(200);
}

async function advance(seconds: number) {
  await chain.connection.provider.request({ method: "evm_increaseTime", params: [seconds] });
  await chain.connection.provider.request({ method: "evm_mine", params: [] });
}

beforeAll(async () => {
  const host = await hostChain(1);
  ({ chain, token } = host);
  server = await createApp({
    config: {
      server: { port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 10 },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
      models: [
        {
          id: "m",
          backend: "infinigram",
          datanet: "brown",
          pricePerRequest: "5000",
          ownerBps: 1000,
          owner: host.owner.address,
          challengePeriod: CHALLENGE,
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
    logger: false,
  });
  base = await server.listen({ port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("royalty402 epoch repost", () => {
  it("reposts a vetoed epoch unchanged; after its challenge period it is active and the model's epochs resume", async () => {
    const splitterAddress = server.context.models.get("m")!.splitter;
    const splitter = new Contract(splitterAddress, [...SPLITTER_ABI, "function vetoEpoch(uint256 epoch)"], chain.ethers.provider);
    await payOnce("The jury said");
    await payOnce("The city of Atlanta");

    const refusedEarly = await cli(["epoch", "repost", "m"]);
    expect(refusedEarly.code).toBe(1);
    expect(refusedEarly.stderr).toBe(
      "royalty402: the server refused POST /admin/epochs/repost " +
        "(HTTP 409, no_vetoed_epoch): the latest epoch of m is none: " +
        "nothing to repost.\n",
    );

    const first = await cli(["epoch", "close", "--model", "m"]);
    expect(first.stdout).toMatch(/^m: epoch 1 posted: 2 outputs, /);
    const posted = await server.context.ledger.getEpoch(splitterAddress, 1);
    const guardian = chain.signers[3];
    await (await (splitter.connect(guardian) as Contract).getFunction("vetoEpoch")(1)).wait();

    // Vetoed: closing stops for this model, even with new outputs waiting.
    await payOnce("Mrs. Smith");
    const halted = await cli(["epoch", "close", "--model", "m"]);
    expect(halted.stdout).toBe("m: halted (epoch vetoed), epoch 1\n");
    expect((await server.context.ledger.getEpoch(splitterAddress, 1))!.status).toBe("vetoed");

    // A veto may be followed by a cooldown before the number can be posted again.
    await advance(2 * 86_400);
    const reposted = await cli(["epoch", "repost", "m"]);
    expect(reposted.code, reposted.stderr).toBe(0);
    expect(reposted.stdout).toMatch(
      /^m: epoch 1 reposted, tx 0x[0-9a-f]{64}; claimable from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC unless the guardian vetoes it again\.\n$/,
    );
    const pending = await splitter.getFunction("pendingEpoch")();
    expect(pending.epoch).toBe(1n);
    expect(pending.claimsRoot).toBe(posted!.claimsRoot); // the same document
    expect((await server.context.ledger.getEpoch(splitterAddress, 1))!.status).toBe("posted");
    expect((await cli(["epoch", "repost", "m"])).stderr).toMatch(
      /\(HTTP 409, no_vetoed_epoch\): the latest epoch of m is epoch 1, posted: nothing to repost\.\n$/,
    );

    await advance(CHALLENGE + 1);
    const next = await cli(["epoch", "close", "--model", "m"]);
    expect(next.stdout).toMatch(/^m: epoch 2 posted: 1 output, /);
    expect((await server.context.ledger.getEpoch(splitterAddress, 1))!.status).toBe("active");
    const active = await splitter.getFunction("activeEpoch")();
    expect([active.epoch, active.claimsRoot]).toEqual([1n, posted!.claimsRoot]);

    // Its claims are claimable: a contributor of epoch 1 can claim exactly its leaf.
    const leaf = JSON.parse(posted!.document).claims.leaves[0];
    const earnings = (await (await fetch(`${base}/contributors/${leaf.account}`)).json()) as any;
    expect(earnings.totals.claimable).toBe(leaf.cumulativeAmount);
  });
});
