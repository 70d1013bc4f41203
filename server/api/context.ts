// What the routes are given: the services, built by server/services.ts.
import type {} from "@fastify/swagger"; // augments route schemas with summary, tags, description
import type { FastifyRequest } from "fastify";
import type { Provider } from "ethers";
import type { ServerConfig } from "../config/index.ts";
import type { CloseContext, EpochDocuments, EpochScheduler, TextStore } from "../epochs/index.ts";
import type { Ledger } from "../ledger/index.ts";
import type { ModelRegistry, ServedModel } from "../models/index.ts";
import type { DatanetService } from "../datanets/index.ts";
import type { Metrics } from "./metrics.ts";
import type { ChannelFacilitator } from "../facilitator/batch-settlement/facilitator.ts";

export interface TokenInfo {
  address: string;
  name: string;
  version: string;
  decimals: number;
  symbol: string;
}

export interface AppContext {
  config: ServerConfig;
  ledger: Ledger;
  provider: Provider;
  chainId: bigint;
  /** CAIP-2, e.g. "eip155:31337". */
  network: string;
  token: TokenInfo;
  models: ModelRegistry;
  datanets: DatanetService;
  scheduler: EpochScheduler;
  epochs: CloseContext;
  docs: EpochDocuments;
  texts: TextStore | null;
  metrics: Metrics;
  adminToken: string | null;
  /** x402 batch-settlement channels of the embedded facilitator (null: not offered). */
  channels: ChannelFacilitator | null;
  /** Unix seconds the server started (OpenAI's `created` of its models). */
  startedAt: number;
  /** The base URL clients use: server.publicUrl, else from the request, else the listen address. */
  baseUrl(request?: FastifyRequest): string;
  /** Registers a model at runtime (validated like a config entry; persisted for restarts). */
  registerModel(raw: unknown, options: { deploy?: boolean }): Promise<ServedModel>;
}
