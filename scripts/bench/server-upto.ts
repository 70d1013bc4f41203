// The upto rows of `npm run bench:server` (also runnable alone: tsx scripts/bench/server-upto.ts):
// on the in-process chain, the model host (createApp, embedded facilitator) serving a proxy model
// whose upstream is the scripted one (scripts/shared/scripted-upstream.ts, a test double for an
// LLM: 40 tokens, a stream paced 20 ms a token). Measured in one run, each against its baseline:
//  - paid requests/s with upto against exact (reference clients, same route, same concurrency);
//  - time to the first token of a streamed upto answer against the same upstream called directly;
//  - what a 40-token answer to a 2,000-max request is charged, against the signed maximum.
// Writes scripts/bench/results/server-upto.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { UptoEvmScheme } from "@x402/evm/upto/client";
import { toClientEvmSigner } from "@x402/evm";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createApp } from "../../server/app.ts";
import { detokenize, tokenize } from "../../server/attribution/index.ts";
import { PERMIT2_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { loadBrownCorpus } from "../../server/datanets/index.ts";
import { scriptedUpstream } from "../shared/scripted-upstream.ts";
import { connectChain } from "../shared/stack.ts";

const env = process.env;
const REQUESTS = Number(env.BENCH_UPTO_REQUESTS ?? 120);
const CONCURRENCY = Number(env.BENCH_UPTO_CONCURRENCY ?? 8);
const TTFB_ROUNDS = Number(env.BENCH_UPTO_TTFB_ROUNDS ?? 9);
const PACE_MS = 20;
const MAX_TOKENS = 2000;
const NETWORK = "eip155:31337";
const MODEL = "scripted";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round2 = (x: number) => Math.round(x * 100) / 100;

/** Milliseconds from sending `init` to `url` until the first streamed content piece arrives (the body is then drained). */
async function firstToken(url: string, init: RequestInit, pay: typeof fetch = fetch): Promise<number> {
  const start = performance.now();
  const res = await pay(url, init);
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let first = -1;
  const decoder = new TextDecoder();
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (first < 0 && /"content":"[^"]/.test(decoder.decode(bytes))) first = performance.now() - start;
  }
  return first;
}

export async function uptoRows() {
  const docs = loadBrownCorpus(12);
  const pieces = Array.from(tokenize(docs[1].text).subarray(0, 40), (t) => detokenize([t]));
  const upstream = await scriptedUpstream({ pieces, paceMs: PACE_MS });
  const dataDir = mkdtempSync(join(tmpdir(), "bench-upto-"));
  const chain = await connectChain();
  const { ethers, signers, connection } = chain;
  const [, owner, oracle, guardian] = signers;
  const token = await ethers.deployContract("TestUSDC");
  const factory = await ethers.deployContract("SplitterFactory", [1]);
  const relayer = new Wallet(Wallet.createRandom().privateKey, ethers.provider);
  const fund = (address: string) => connection.provider.request({ method: "hardhat_setBalance", params: [address, "0x56BC75E2D63100000"] });
  await fund(relayer.address);
  const server = await createApp({
    config: {
      server: { host: "127.0.0.1", port: 0 },
      chain: {
        rpcUrl: "in-process",
        chainId: 31337,
        token: await token.getAddress(),
        factory: await factory.getAddress(),
        guardian: guardian.address,
      },
      facilitator: { mode: "embedded", maxWaitMs: 20 },
      dataDir,
      epochs: { checkIntervalSeconds: 3600 },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 12, contributors: 6 } }],
      models: [
        {
          id: MODEL,
          backend: "proxy",
          datanet: "brown",
          upstream: { url: upstream.url, model: "scripted", timeoutMs: 10_000 },
          price: { perRequest: "7", perPromptToken: "1", perOutputToken: "2" },
          maxTokensLimit: 4000,
          owner: owner.address,
        },
      ],
    },
    chain: { provider: ethers.provider, relayer, oracle },
    logger: false,
  });
  const base = await server.listen({ port: 0 });
  try {
    const asset = await token.getAddress();
    /** A funded payer (Permit2 approved once, as `royalty402 pay --upto` without --rpc expects) and its paying fetch. */
    const agent = async (scheme: "exact" | "upto") => {
      const key = generatePrivateKey();
      const wallet = new Wallet(key, ethers.provider);
      await fund(wallet.address);
      await (await token.mint(wallet.address, 10n ** 12n)).wait();
      if (scheme === "upto") await (await (token.connect(wallet) as typeof token).approve(PERMIT2_ADDRESS, 2n ** 256n - 1n)).wait();
      const client = new x402Client();
      const account = privateKeyToAccount(key);
      if (scheme === "upto") client.register(NETWORK, new UptoEvmScheme(toClientEvmSigner(account)));
      else registerExactEvmScheme(client, { signer: account });
      client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset }] });
      return wrapFetchWithPayment(fetch, client);
    };
    const body = (stream: boolean) =>
      JSON.stringify({ model: MODEL, max_tokens: MAX_TOKENS, stream, messages: [{ role: "user", content: "Tell me about Austin." }] });
    const post = (stream: boolean): RequestInit => ({
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body(stream),
    });
    const url = `${base}/v1/chat/completions`;

    // 1. paid requests/s, upto against exact (alternating, one payer per connection)
    const throughput = async (scheme: "exact" | "upto") => {
      const pays = await Promise.all(Array.from({ length: CONCURRENCY }, () => agent(scheme)));
      let next = 0;
      let ok = 0;
      const start = performance.now();
      await Promise.all(
        pays.map(async (pay) => {
          while (next++ < REQUESTS) if ((await pay(url, post(false))).status === 200) ok++;
        }),
      );
      return { scheme, requests: REQUESTS, ok, perSecond: round2(ok / ((performance.now() - start) / 1000)) };
    };
    const runs = [await throughput("exact"), await throughput("upto"), await throughput("upto"), await throughput("exact")];
    const mean = (scheme: string) => round2(runs.filter((r) => r.scheme === scheme).reduce((s, r) => s + r.perSecond, 0) / 2);

    // 2. time to the first token: streamed upto through the host against the upstream directly (alternating)
    const pay = await agent("upto");
    const direct: number[] = [];
    const viaHost: number[] = [];
    for (let i = 0; i < TTFB_ROUNDS; i++) {
      direct.push(await firstToken(`${upstream.url}/chat/completions`, post(true)));
      viaHost.push(await firstToken(url, post(true), pay));
    }

    // 3. what a 40-token answer to a 2,000-max request is charged
    const res = await (await agent("upto"))(url, post(false));
    const answer = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const settlement = decodePaymentResponseHeader(res.headers.get("payment-response")!);
    const maximum = 7n + BigInt(answer.usage.prompt_tokens) + 2n * BigInt(MAX_TOKENS);
    const metered = 7n + BigInt(answer.usage.prompt_tokens) + 2n * BigInt(answer.usage.completion_tokens);

    return {
      paidRequestsPerSecond: { exact: mean("exact"), upto: mean("upto"), ratioUptoVsExact: round2(mean("upto") / mean("exact")), runs },
      timeToFirstTokenMs: {
        upstreamDirect: round2(median(direct)),
        streamedUpto: round2(median(viaHost)),
        differenceMs: round2(median(viaHost) - median(direct)),
        target: "within 50 ms of the upstream called directly",
        note:
          `medians of ${TTFB_ROUNDS} alternating calls; the scripted upstream paces tokens ${PACE_MS} ms apart; ` +
          "the host's figure includes the paid retry of @x402/fetch (402, sign, verify) before the stream starts",
        rounds: { direct: direct.map(round2), viaHost: viaHost.map(round2) },
      },
      chargeFor40TokenAnswer: {
        completionTokens: answer.usage.completion_tokens,
        charged: settlement.amount,
        meteredPrice: metered.toString(),
        signedMaximum: maximum.toString(),
        ratioChargedVsMaximum: round2(Number(settlement.amount) / Number(maximum)),
        target: "the metered price, not the maximum",
      },
      setup:
        `in-process Hardhat chain, embedded facilitator, ${CONCURRENCY} concurrent payers, ${REQUESTS} paid requests a run ` +
        "(exact, upto, upto, exact); price 7 + 1 per prompt token + 2 per output token; max_tokens 2000",
    };
  } finally {
    await server.close();
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await uptoRows();
  writeFileSync(
    new URL("./results/server-upto.json", import.meta.url),
    `${JSON.stringify({ date: new Date().toISOString(), ...rows }, null, 2)}\n`,
  );
  console.log(JSON.stringify(rows, null, 2));
  process.exit(0);
}
