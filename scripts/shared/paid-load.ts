// Paid load for benchmarks: pre-signed x402 payments (EIP-3009, outside any measured window) and
// autocannon with one payment per request, recording which payment got which answer and when.
import autocannon from "autocannon";
import { encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { SigningKey, TypedDataEncoder, type Provider, type Wallet, ethers as E } from "ethers";
import { PAYMENT_SETTLED_TOPIC, TRANSFER_WITH_AUTHORIZATION_TYPES, splitterInterface } from "../../server/facilitator/abi.ts";

export interface Signed {
  header: string;
  payer: string;
  nonce: string;
}

/** Pre-signs `count` payment payloads for `req`, round-robin over the payers (outside the measured window). */
export function signPayloads(payers: Wallet[], req: PaymentRequirements, count: number): PaymentPayload[] {
  const domain = { name: req.extra.name as string, version: req.extra.version as string, chainId: 31337n, verifyingContract: req.asset };
  const keys = payers.map((p) => new SigningKey(p.privateKey));
  // A day, not an hour: Hardhat's automine stamps each block at least a second after the last, so at ~12
  // blocks a second (batches, epoch posts) the chain's clock runs ahead of the wall's. A 100,000-request
  // soak moved it over an hour ahead, and the token then refused the rest as expired (nothing charged).
  const validBefore = BigInt(Math.floor(Date.now() / 1000) + 86_400);
  const out: PaymentPayload[] = [];
  for (let i = 0; i < count; i++) {
    const payer = payers[i % payers.length];
    const authorization = {
      from: payer.address,
      to: req.payTo,
      value: BigInt(req.amount),
      validAfter: 0n,
      validBefore,
      nonce: E.hexlify(E.randomBytes(32)),
    };
    const signature = keys[i % keys.length].sign(
      TypedDataEncoder.hash(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, authorization),
    ).serialized;
    out.push({
      x402Version: 2,
      accepted: req,
      payload: { signature, authorization: { ...authorization, value: req.amount, validAfter: "0", validBefore: validBefore.toString() } },
    });
  }
  return out;
}

/** Pre-signs `count` payments for `req` as payment-signature headers, with who pays and the nonce. */
export function signPayments(payers: Wallet[], req: PaymentRequirements, count: number): Signed[] {
  return signPayloads(payers, req, count).map((payment) => {
    const { from, nonce } = payment.payload.authorization as { from: string; nonce: string };
    return { header: encodePaymentSignatureHeader(payment), payer: from.toLowerCase(), nonce: nonce.toLowerCase() };
  });
}

export interface Run {
  result: autocannon.Result;
  statuses: Map<number, number>; // payment index -> status
  /** Payments sent (the ones without a status were in flight when the run ended). */
  issued: number;
  seconds: number;
}

export interface DriveOptions {
  connections: number;
  duration?: number;
  amount?: number;
  /** Called with each answer: payment index, status, milliseconds since its request was set up. */
  onAnswer?: (payment: number, status: number, ms: number) => void;
}

/** autocannon with one payment per request (the same `body` each time); records which payment got which status. */
export function drive(url: string, body: string, payments: Signed[], options: DriveOptions): Promise<Run> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let first = 0;
    const statuses = new Map<number, number>();
    const instance = autocannon(
      {
        url,
        method: "POST",
        connections: options.connections,
        ...(options.duration ? { duration: options.duration } : { amount: options.amount }),
        timeout: 60,
        headers: { "content-type": "application/json" },
        body,
        requests: [
          {
            method: "POST",
            setupRequest: (req: any, context: any) => {
              if (first === 0) first = performance.now();
              const i = next++;
              if (i >= payments.length) throw new Error("bench: ran out of pre-signed payments");
              context.payment = i;
              context.sentAt = performance.now();
              return {
                ...req,
                body,
                headers: { ...req.headers, "content-type": "application/json", "payment-signature": payments[i].header },
              };
            },
            onResponse: (status: number, _body: string, context: any) => {
              statuses.set(context.payment, status);
              options.onAnswer?.(context.payment, status, performance.now() - context.sentAt);
            },
          },
        ],
      } as autocannon.Options,
      // From the first request to the end of the run: the last answers may still be in flight then.
      (err, result) => (err ? reject(err) : resolve({ result, statuses, issued: next, seconds: (performance.now() - first) / 1000 })),
    );
    void instance;
  });
}

/** Where a benchmark's `royalty402 serve` runs: a Hardhat node with TestUSDC and the factory deployed. */
export interface ServeTarget {
  port: number;
  nodeUrl: string;
  token: string;
  factory: string;
  dataDir: string;
}

/**
 * The `royalty402 serve --config` file of the benchmarks: one ∞-gram model over 20 Brown documents
 * (12 contributors), priced 1000 + 10 per max token, the embedded facilitator batching ≤ 32 / 25 ms.
 */
export function benchServeConfig(
  model: string,
  target: ServeTarget,
  options: { logLevel: string; database: Record<string, unknown>; epochs: Record<string, unknown> },
) {
  return {
    server: { host: "127.0.0.1", port: target.port, logLevel: options.logLevel },
    chain: { rpcUrl: target.nodeUrl, chainId: 31337, token: target.token, factory: target.factory },
    facilitator: { mode: "embedded", maxBatchSize: 32, maxWaitMs: 25 },
    dataDir: target.dataDir,
    database: options.database,
    epochs: options.epochs,
    datanets: [{ id: "corpus-brown", seed: { corpus: "brown", documents: 20, contributors: 12 } }],
    models: [
      {
        id: model,
        backend: "infinigram",
        datanet: "corpus-brown",
        pricePerRequest: "1000",
        pricePerMaxToken: "10",
        owner: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      },
    ],
  };
}

/** How often each payment (`payer:nonce`, lower-case) was settled on-chain into `payTo` after `fromBlock`. */
export async function settledOnChain(provider: Provider, payTo: string, fromBlock: number): Promise<Map<string, number>> {
  const logs = await provider.getLogs({ address: payTo, topics: [PAYMENT_SETTLED_TOPIC], fromBlock: fromBlock + 1, toBlock: "latest" });
  const onChain = new Map<string, number>();
  for (const log of logs) {
    const e = splitterInterface.parseLog(log)!;
    const key = `${(e.args.payer as string).toLowerCase()}:${(e.args.nonce as string).toLowerCase()}`;
    onChain.set(key, (onChain.get(key) ?? 0) + 1);
  }
  return onChain;
}
