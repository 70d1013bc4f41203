// royalty402 pay <url>: an AI agent paying for one model call with the reference x402 client
// (@x402/fetch) under a spending cap; prints the answer, the settlement receipt, and who the
// payment went to: the model's splitter and, through the output's attribution record, the
// contributors whose text the answer used.
import { CliError } from "../errors.ts";
import { parseUnits, table, units } from "../format.ts";
import { getJson, serverUrl } from "../http.ts";
import { signingKey } from "../keys.ts";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { type Agent, createAgent, paymentRefusal, type Receipt, receiptOf } from "../agent.ts";
import { connectMcp, type PaidToolCall, payTool } from "../../mcp/client.ts";
import { toolName } from "../../mcp/tools.ts";
import { fixedCuts } from "../../util/cuts.ts";
import { outputPagePath } from "../../util/urls.ts";

interface Model {
  id: string;
  network: string;
  asset: string;
  payTo: string;
  description: string;
  price: { default: string; perRequest: string; perMaxToken: string; defaultMaxTokens: number; decimals: number; symbol: string };
  split: { ownerBps: number; protocolBps: number; contributorBps: number };
}

interface Answer {
  choices: Array<{ message?: { content: string }; text?: string }>;
  attribution: {
    outputId: string;
    recordUrl: string;
    recordHash: string;
    contributors: Array<{ address: string; ppm: number }>;
    contributorCount: number;
    unattributedPpm: number;
  };
}

/** `royalty402 chain`'s RPC URL for a local chain (the upto client reads the token's permit nonce there). */
function localRpc(network: string): string | undefined {
  return network === "eip155:31337" ? "http://127.0.0.1:8545" : undefined;
}

/** The server's base URL and the endpoint to call: a bare server URL means chat completions. */
export function endpointOf(url: string): { base: string; path: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`${JSON.stringify(url)} is not a URL (for example http://127.0.0.1:8402).`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError(`${url} is not an http(s) URL.`);
  const i = u.pathname.indexOf("/v1/");
  const prefix = i >= 0 ? u.pathname.slice(0, i) : u.pathname.replace(/\/+$/, "");
  const path = i >= 0 ? u.pathname.slice(i) : "/v1/chat/completions";
  if (path !== "/v1/chat/completions" && path !== "/v1/completions")
    throw new CliError(`${path} is not a paid endpoint (use /v1/chat/completions or /v1/completions).`);
  return { base: serverUrl(`${u.origin}${prefix}`), path };
}

/** The MCP endpoint and the server it belongs to: a bare server URL means its /mcp. */
export function mcpEndpointOf(url: string): { base: string; mcpUrl: string } {
  const { base } = endpointOf(url.replace(/\/mcp\/?$/, ""));
  return { base, mcpUrl: `${base}/mcp` };
}

interface Served {
  text: string;
  receipt: Receipt | null;
  attribution: Answer["attribution"];
}

interface CallArgs {
  agent: Agent;
  model: Model;
  prompt: string;
  maxTokens: number;
}

export async function pay(
  url: string | undefined,
  opts: {
    model?: string;
    prompt: string;
    maxTokens?: number;
    maxAmount: string;
    json?: boolean;
    mcp?: string;
    upto?: boolean;
    rpc?: string;
  },
): Promise<void> {
  if ((url === undefined) === (opts.mcp === undefined))
    throw new CliError("give either the server URL or --mcp <url> (for example http://127.0.0.1:8402/mcp).");
  const mcp = opts.mcp === undefined ? null : mcpEndpointOf(opts.mcp);
  const { base, path } = mcp ? { base: mcp.base, path: "" } : endpointOf(url!);
  const cap = parseUnits(opts.maxAmount);
  if (cap === null) throw new CliError(`--max-amount ${JSON.stringify(opts.maxAmount)} is not an amount of USDC (for example 0.05).`);
  const models = (await getJson<{ data: Model[] }>(base, "/v1/models")).data;
  if (models.length === 0) throw new CliError(`the server at ${base} serves no models.`);
  const model = opts.model === undefined ? models[0] : models.find((m) => m.id === opts.model);
  if (!model) throw new CliError(`the server has no model ${JSON.stringify(opts.model)} (it has ${models.map((m) => m.id).join(", ")}).`);
  const key = signingKey(
    "ROYALTY402_PAYER_KEY",
    "payer",
    "pays (it must hold the model's payment token)",
    model.network === "eip155:31337",
  );
  const upto = opts.upto ? { rpcUrl: opts.rpc ?? process.env.ROYALTY402_RPC_URL ?? localRpc(model.network) } : undefined;
  const agent = createAgent({ privateKey: key.privateKey, network: model.network, asset: model.asset, maxPerCall: cap, budget: cap, upto });
  const maxTokens = opts.maxTokens ?? model.price.defaultMaxTokens;
  const price = BigInt(model.price.perRequest) + BigInt(model.price.perMaxToken) * BigInt(maxTokens);
  if (price > cap)
    throw new CliError(
      `${model.id} costs ${units(price)} USDC for max_tokens ` +
        `${maxTokens}, above the spending cap of ${units(cap)} USDC (raise ` +
        `--max-amount).`,
    );
  const call = { agent, model, prompt: opts.prompt, maxTokens };
  const { text, receipt, attribution: a } = mcp ? await callOverMcp(mcp.mcpUrl, call) : await callOverHttp(`${base}${path}`, path, call);
  const amount = BigInt(receipt?.amount ?? price);
  if (opts.json) {
    console.log(
      JSON.stringify(
        {
          model: model.id,
          answer: text,
          receipt,
          payTo: model.payTo,
          split: model.split,
          attribution: a,
          ...(mcp ? { mcp: mcp.mcpUrl } : {}),
          outputPage: `${base}${outputPagePath(a.outputId)}`,
        },
        null,
        2,
      ),
    );
    return;
  }
  const { pool } = fixedCuts(amount, model.split.ownerBps, model.split.protocolBps);
  console.log(`answer (${model.id}):\n  ${text.trim().replace(/\n/g, "\n  ")}\n`);
  console.log("receipt:");
  console.log(
    `  paid        ${units(amount)} ${model.price.symbol} by ${receipt?.payer ?? agent.address}${key.dev ? " (local dev account)" : ""}`,
  );
  console.log(`  settled     tx ${receipt?.transaction} on ${receipt?.network}`);
  console.log(`  output      ${a.outputId}`);
  console.log(`  record      ${a.recordUrl} (hash ${a.recordHash}, committed on-chain with the payment)`);
  console.log(`\nwent to the model's RoyaltySplitter ${model.payTo}:`);
  console.log(
    `  contributors ${model.split.contributorBps / 100}% · ` +
      `model owner ${model.split.ownerBps / 100}% · protocol ` +
      `${model.split.protocolBps / 100}%`,
  );
  if (a.contributors.length === 0)
    console.log("  no contributor's text was found in this answer: the contributors' share goes to the model owner.");
  else {
    const rows = a.contributors.map((c) => [
      c.address,
      `${(c.ppm / 10_000).toFixed(2)}%`,
      `≈ ${units((pool * BigInt(c.ppm)) / 1_000_000n)}`,
    ]);
    if (a.unattributedPpm > 0)
      rows.push([
        "unattributed (to the model owner)",
        `${(a.unattributedPpm / 10_000).toFixed(2)}%`,
        `≈ ${units((pool * BigInt(a.unattributedPpm)) / 1_000_000n)}`,
      ]);
    console.log(
      table(
        [
          { header: "contributor" },
          { header: "share of the output", align: "right" },
          { header: `earns (${model.price.symbol}, at the next epoch)`, align: "right" },
        ],
        rows,
      )
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
    if (a.contributorCount > a.contributors.length)
      console.log(`  … and ${a.contributorCount - a.contributors.length} more (see the record)`);
  }
  console.log(`\nspans by contributor: ${base}${outputPagePath(a.outputId)}`);
}

async function callOverHttp(url: string, path: string, { agent, model, prompt, maxTokens }: CallArgs): Promise<Served> {
  const body =
    path === "/v1/completions"
      ? { model: model.id, prompt, max_tokens: maxTokens }
      : { model: model.id, messages: [{ role: "user", content: prompt }], max_tokens: maxTokens };
  let res: Response;
  try {
    res = await agent.fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch (e) {
    throw paymentRefusal(e, `the call to ${model.id}`);
  }
  const receipt = receiptOf(res);
  if (res.status !== 200) {
    const text = await res.text();
    let message = text.slice(0, 200);
    try {
      const j = JSON.parse(text);
      message = j.error?.message ?? j.message ?? message;
    } catch {
      /* not JSON */
    }
    throw new CliError(
      `the call to ${model.id} was not served (HTTP ` +
        `${res.status}${receipt?.extra?.errorReason ? `, ${String(receipt.extra.errorReason)}` : ""}): ` +
        `${String(message).replace(/\.$/, "")}.`,
    );
  }
  const answer = (await res.json()) as Answer;
  return { text: answer.choices[0]?.message?.content ?? answer.choices[0]?.text ?? "", receipt, attribution: answer.attribution };
}

/** The model's tool over MCP, paid as the x402 MCP transport says (server/mcp/client.ts). */
async function callOverMcp(mcpUrl: string, { agent, model, prompt, maxTokens }: CallArgs): Promise<Served> {
  let mcp: Client;
  try {
    mcp = await connectMcp(mcpUrl);
  } catch (e) {
    throw new CliError(`no MCP server answered at ${mcpUrl}: ${(e as Error).message.split("\n")[0]}`);
  }
  try {
    let call: PaidToolCall;
    try {
      call = await payTool(mcp, agent.x402, toolName(model.id), { prompt, max_tokens: maxTokens });
    } catch (e) {
      throw paymentRefusal(e, `the MCP call to ${model.id}`);
    }
    const { result, settlement } = call;
    const out = result.structuredContent as { text: string; attribution: Answer["attribution"]; error?: string; message?: string };
    if (result.isError) {
      const said = result.content.map((c) => (c.type === "text" ? c.text : "")).at(-1);
      throw new CliError(`the MCP call to ${model.id} was not served (${out?.error ?? "error"}): ${out?.message ?? said}`);
    }
    const receipt = settlement ? ({ amount: null, extra: {}, ...settlement } as Receipt) : null;
    return { text: out.text, receipt, attribution: out.attribution };
  } finally {
    await mcp.close();
  }
}
