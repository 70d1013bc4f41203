// Simulates settlements as eth_call from the relayer, exactly as settle will send them.
// Concurrent simulations for one splitter are combined into one settleBatch eth_call (it
// returns how many items would settle): when all would, every caller has its answer from a
// single call; otherwise each item is simulated alone to tell which one fails.
import { ZeroHash, type Provider } from "ethers";
import { encodeSettleBatch, encodeTransferWithAuthorization, splitterInterface } from "./abi.ts";
import { rawSend } from "./chain.ts";
import type { ExactEvmPayload } from "./payload.ts";
import { ChainUnavailableError, isTransportError } from "./reasons.ts";

interface Waiting {
  payment: ExactEvmPayload;
  resolve: (ok: boolean) => void;
  reject: (error: unknown) => void;
}

export interface SimulatorOptions {
  /** How long to collect concurrent simulations for one splitter (ms). Default 2. */
  maxWaitMs?: number;
  /** At most this many items per combined call. Default 64. */
  maxBatchSize?: number;
}

export class SettlementSimulator {
  private readonly queues = new Map<string, Waiting[]>();
  private readonly maxWaitMs: number;
  private readonly maxBatchSize: number;
  /** eth_calls made (for tests and metrics). */
  calls = 0;

  constructor(
    private readonly provider: Provider,
    private readonly relayer: string,
    options: SimulatorOptions = {},
  ) {
    this.maxWaitMs = options.maxWaitMs ?? 2;
    this.maxBatchSize = options.maxBatchSize ?? 64;
  }

  private async call(to: string, data: string): Promise<string | null> {
    this.calls++;
    const send = rawSend(this.provider);
    try {
      return send
        ? ((await send("eth_call", [{ from: this.relayer, to, data }, "latest"])) as string)
        : await this.provider.call({ from: this.relayer, to, data });
    } catch (error) {
      if (isTransportError(error)) throw new ChainUnavailableError("simulation: chain unreachable", { cause: error });
      return null; // reverted
    }
  }

  private async settleBatchCall(splitter: string, payments: ExactEvmPayload[]): Promise<bigint | null> {
    const data = encodeSettleBatch(
      payments.map(({ authorization: a, signature }) => ({ ...a, outputId: ZeroHash, attributionRoot: ZeroHash, signature })),
    );
    const raw = await this.call(splitter, data);
    return raw === null ? null : (splitterInterface.decodeFunctionResult("settleBatch", raw)[0] as bigint);
  }

  /** Would the token accept this authorization from the relayer? */
  async transfer(asset: string, payment: ExactEvmPayload): Promise<boolean> {
    return (await this.call(asset, encodeTransferWithAuthorization(payment.authorization, payment.signature))) !== null;
  }

  /** Would settleBatch on `splitter` settle this payment? */
  viaSplitter(splitter: string, payment: ExactEvmPayload): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const key = splitter.toLowerCase();
      let queue = this.queues.get(key);
      if (!queue) {
        queue = [];
        this.queues.set(key, queue);
        setTimeout(() => void this.flush(splitter, key), this.maxWaitMs);
      }
      queue.push({ payment, resolve, reject });
      if (queue.length >= this.maxBatchSize) void this.flush(splitter, key);
    });
  }

  private async flush(splitter: string, key: string): Promise<void> {
    const queue = this.queues.get(key);
    if (!queue || queue.length === 0) return;
    this.queues.delete(key);
    try {
      const settled = await this.settleBatchCall(
        splitter,
        queue.map((w) => w.payment),
      );
      if (settled === BigInt(queue.length)) {
        for (const w of queue) w.resolve(true);
      } else if (queue.length === 1 || settled === null) {
        for (const w of queue) w.resolve(false); // a revert of the whole call is systemic (paused, not facilitator)
      } else {
        await Promise.all(queue.map(async (w) => w.resolve((await this.settleBatchCall(splitter, [w.payment])) === 1n)));
      }
    } catch (error) {
      for (const w of queue) w.reject(error);
    }
  }
}
