// Reads the facilitator needs from the chain, with the caching that keeps verify cheap:
// the token's EIP-712 domain (name, version) is read once per token; whether a payTo is one of
// our splitters is read once per address. Per-payment state (balance, nonce) is always fresh.
import type { Provider } from "ethers";
import { ERC1271_MAGIC, erc1271Interface, splitterInterface, tokenInterface } from "./abi.ts";
import { ChainUnavailableError, isTransportError } from "./reasons.ts";

export interface TokenDomain {
  name: string | null; // null: the token has no name() / version() view
  version: string | null;
}

/** A transaction receipt reduced to what settlement needs (status 1 = success). */
export interface LightReceipt {
  hash: string;
  status: number;
  blockNumber: number;
  logs: Array<{ address: string; topics: string[]; data: string }>;
}

type Send = (method: string, params: unknown[]) => Promise<any>;

/**
 * The provider's raw JSON-RPC `send`, if it has one (ethers' JsonRpcProvider, Hardhat's
 * provider). The settlement hot path uses it for big payloads: ethers' high-level methods
 * re-parse a signed batch transaction (including recovering its sender, ~9 ms) and re-encode
 * calldata that the caller already holds as hex.
 */
export function rawSend(provider: Provider): Send | null {
  const send = (provider as { send?: unknown }).send;
  return typeof send === "function" ? (method, params) => (send as Send).call(provider, method, params) : null;
}

function lightReceipt(raw: any): LightReceipt {
  const num = (v: unknown) => (typeof v === "string" ? Number(BigInt(v)) : Number(v));
  return {
    hash: String(raw.transactionHash ?? raw.hash),
    status: num(raw.status),
    blockNumber: num(raw.blockNumber),
    logs: (raw.logs ?? []).map((l: any) => ({ address: String(l.address), topics: [...l.topics].map(String), data: String(l.data) })),
  };
}

/** The receipt of `hash`, or null if it is not mined yet. */
export async function getLightReceipt(provider: Provider, hash: string): Promise<LightReceipt | null> {
  const send = rawSend(provider);
  const raw = await onChain("getTransactionReceipt", () =>
    send ? send("eth_getTransactionReceipt", [hash]) : provider.getTransactionReceipt(hash),
  );
  return raw ? lightReceipt(raw) : null;
}

/** Wraps a provider call: transport failures become ChainUnavailableError, reverts stay reverts. */
export async function onChain<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isTransportError(error)) throw new ChainUnavailableError(`${what}: chain unreachable`, { cause: error });
    throw error;
  }
}

export class ChainReader {
  private readonly domains = new Map<string, Promise<TokenDomain>>();
  private readonly splitters = new Map<string, { isSplitter: boolean; until: number }>();
  private readonly codes = new Map<string, { has: boolean; until: number }>();

  constructor(
    readonly provider: Provider,
    /** The relayer: a payTo whose isFacilitator(relayer) is true is a splitter we settle through. */
    private readonly relayerAddress: string,
    private readonly negativeCacheMs = 60_000,
    private readonly noCodeCacheMs = 30_000,
  ) {}

  /** eth_call at "latest", through the raw RPC when there is one (ethers' call() may answer from a 250 ms cache). */
  private async view(to: string, data: string, what: string): Promise<string> {
    const send = rawSend(this.provider);
    return onChain(what, () => (send ? (send("eth_call", [{ to, data }, "latest"]) as Promise<string>) : this.provider.call({ to, data })));
  }

  tokenDomain(asset: string): Promise<TokenDomain> {
    const key = asset.toLowerCase();
    let cached = this.domains.get(key);
    if (!cached) {
      cached = this.readDomain(asset);
      this.domains.set(key, cached);
      // Never cache an outage: the next verify asks again.
      cached.catch(() => this.domains.delete(key));
    }
    return cached;
  }

  private async readDomain(asset: string): Promise<TokenDomain> {
    const read = async (fn: "name" | "version") => {
      try {
        const raw = await this.view(asset, tokenInterface.encodeFunctionData(fn), `token ${fn}()`);
        return tokenInterface.decodeFunctionResult(fn, raw)[0] as string;
      } catch (error) {
        if (error instanceof ChainUnavailableError) throw error;
        return null;
      }
    };
    const [name, version] = await Promise.all([read("name"), read("version")]);
    return { name, version };
  }

  async balanceOf(asset: string, account: string): Promise<bigint> {
    const raw = await this.view(asset, tokenInterface.encodeFunctionData("balanceOf", [account]), "balanceOf");
    return tokenInterface.decodeFunctionResult("balanceOf", raw)[0] as bigint;
  }

  /** EIP-3009 nonce state; null if the token does not implement authorizationState. */
  async authorizationUsed(asset: string, authorizer: string, nonce: string): Promise<boolean | null> {
    try {
      const raw = await this.view(
        asset,
        tokenInterface.encodeFunctionData("authorizationState", [authorizer, nonce]),
        "authorizationState",
      );
      return tokenInterface.decodeFunctionResult("authorizationState", raw)[0] as boolean;
    } catch (error) {
      if (error instanceof ChainUnavailableError) throw error;
      return null;
    }
  }

  /**
   * Whether an address has code (its token signature check goes through ERC-1271). A contract
   * stays one; "no code" is remembered briefly, since a wallet may be deployed (or an EOA
   * delegated) at any time. Used to budget a batch item's gas, never to accept a signature.
   */
  async hasCode(account: string): Promise<boolean> {
    const key = account.toLowerCase();
    const cached = this.codes.get(key);
    if (cached && cached.until > Date.now()) return cached.has;
    const code = await onChain("getCode", () => this.provider.getCode(account));
    const has = code !== "0x";
    if (this.codes.size >= 50_000) this.codes.clear();
    this.codes.set(key, { has, until: has ? Number.POSITIVE_INFINITY : Date.now() + this.noCodeCacheMs });
    return has;
  }

  async isValidErc1271(account: string, digest: string, signature: string): Promise<boolean> {
    try {
      const raw = await this.view(
        account,
        erc1271Interface.encodeFunctionData("isValidSignature", [digest, signature]),
        "isValidSignature",
      );
      return raw.slice(0, 10).toLowerCase() === ERC1271_MAGIC;
    } catch (error) {
      if (error instanceof ChainUnavailableError) throw error;
      return false;
    }
  }

  /** True if payTo is a royalty splitter that accepts our relayer as facilitator. */
  async isOurSplitter(payTo: string): Promise<boolean> {
    const key = payTo.toLowerCase();
    const cached = this.splitters.get(key);
    if (cached && cached.until > Date.now()) return cached.isSplitter;
    let isSplitter = false;
    try {
      const raw = await this.view(payTo, splitterInterface.encodeFunctionData("isFacilitator", [this.relayerAddress]), "isFacilitator");
      isSplitter = splitterInterface.decodeFunctionResult("isFacilitator", raw)[0] === true;
    } catch (error) {
      if (error instanceof ChainUnavailableError) throw error;
    }
    this.splitters.set(key, { isSplitter, until: isSplitter ? Number.POSITIVE_INFINITY : Date.now() + this.negativeCacheMs });
    return isSplitter;
  }

  /** Forget a cached splitter answer (e.g. after setFacilitator changes). */
  forgetSplitter(payTo: string): void {
    this.splitters.delete(payTo.toLowerCase());
  }
}
