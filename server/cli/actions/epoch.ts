// royalty402 epoch close|repost|verify: close an epoch now (admin), repost a vetoed one (admin),
// or recompute a published epoch and compare it with the chain.
import { readFileSync } from "node:fs";
import { loadIndex } from "../../attribution/index.ts";
import { verifyEpoch, type EpochDocument } from "../../epochs/index.ts";
import { CliError } from "../errors.ts";
import { units } from "../format.ts";
import { adminToken, getJson, postJson, serverUrl } from "../http.ts";
import { connectRpc } from "./claim.ts";
import { indexesFromExport } from "./datanet-export.ts";
import { epochPath } from "../../util/urls.ts";

type CloseResult = {
  status: string;
  model: string;
  epoch?: number;
  outputs?: number;
  cumulativeAllocated?: string;
  txHash?: string | null;
  reason?: string;
};

export async function close(opts: { model?: string; server?: string }): Promise<void> {
  const { results } = await postJson<{ results: CloseResult[] }>(
    serverUrl(opts.server),
    "/admin/epochs/close",
    opts.model ? { model: opts.model } : {},
    adminToken(),
  );
  for (const r of results) {
    if (r.status === "closed")
      console.log(
        `${r.model}: epoch ${r.epoch} posted: ${r.outputs} output${r.outputs === 1 ? "" : "s"}, ` +
          `${units(BigInt(r.cumulativeAllocated ?? "0"))} ` +
          `USDC allocated (cumulative), tx ${r.txHash}`,
      );
    else console.log(`${r.model}: ${r.status}${r.reason ? ` (${r.reason.replace(/_/g, " ")})` : ""}${r.epoch ? `, epoch ${r.epoch}` : ""}`);
  }
}

type RepostResult = { model: string; epoch: number; txHash: string; activeAt: number };

export async function repost(modelId: string, opts: { server?: string }): Promise<void> {
  const r = await postJson<RepostResult>(serverUrl(opts.server), "/admin/epochs/repost", { model: modelId }, adminToken());
  const when = new Date(r.activeAt * 1000).toISOString().replace(".000Z", " UTC").replace("T", " ");
  console.log(`${r.model}: epoch ${r.epoch} reposted, tx ${r.txHash}; claimable from ${when} unless the guardian vetoes it again.`);
}

interface VerifyOptions {
  server?: string;
  rpc?: string;
  index?: string;
  doc?: string;
  texts?: string;
  splitter?: string;
  requireRecords?: boolean;
  datanetFrom?: string;
}

async function readJson<T>(source: string): Promise<T> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source, { signal: AbortSignal.timeout(60_000) }).catch(() => null);
    if (!res?.ok) throw new CliError(`cannot fetch ${source}${res ? ` (HTTP ${res.status})` : ""}.`);
    return (await res.json()) as T;
  }
  try {
    return JSON.parse(readFileSync(source, "utf8")) as T;
  } catch (e) {
    throw new CliError(`cannot read ${source}: ${(e as Error).message.replace(/\.$/, "")}.`);
  }
}

/** The document to verify and the splitter it belongs to: from --doc, or the server's (model, epoch). */
async function epochToVerify(modelId: string | undefined, epochText: string | undefined, opts: VerifyOptions) {
  if (opts.doc) {
    const doc = await readJson<EpochDocument>(opts.doc);
    return { doc, splitter: opts.splitter ?? doc.splitter ?? undefined, name: doc.splitter ?? "(no splitter)" };
  }
  if (!modelId || !epochText) throw new CliError("name a model and an epoch number, or pass --doc <file|url>.");
  if (!/^[1-9]\d{0,8}$/.test(epochText)) throw new CliError(`${JSON.stringify(epochText)} is not an epoch number (1, 2, …).`);
  const base = serverUrl(opts.server);
  const payTo = await payToOf(base, modelId);
  const doc = await getJson<EpochDocument>(base, epochPath(payTo, Number(epochText)));
  return { doc, splitter: payTo, name: modelId };
}

/** A model's splitter, or a datanet's access splitter for "datanet:<id>". */
async function payToOf(base: string, payee: string): Promise<string> {
  const datanet = /^datanet:(.+)$/.exec(payee)?.[1];
  const path = datanet ? `/datanets/${encodeURIComponent(datanet)}/documents` : `/v1/models/${encodeURIComponent(payee)}`;
  return (await getJson<{ payTo: string }>(base, path)).payTo;
}

function openIndex(dir: string | undefined) {
  if (!dir) return undefined;
  try {
    return loadIndex(dir);
  } catch (e) {
    throw new CliError(`cannot load the index in ${dir}: ${(e as Error).message.replace(/\.$/, "")}.`);
  }
}

export async function verify(modelId: string | undefined, epochText: string | undefined, opts: VerifyOptions): Promise<void> {
  const { doc, splitter, name } = await epochToVerify(modelId, epochText, opts);
  const index = openIndex(opts.index);
  const roots = doc.payments.map((p) => String(p.record?.indexRoot));
  const indexes = opts.datanetFrom ? await indexesFromExport(opts.datanetFrom, roots) : [];
  const texts = opts.texts ? await readJson<Record<string, { output: string; prompt?: string | null }>>(opts.texts) : undefined;
  const rpc = opts.rpc ?? process.env.ROYALTY402_RPC_URL;
  const chain = rpc ? await connectRpc(rpc) : null;
  try {
    const result = await verifyEpoch(doc, {
      index,
      indexes,
      texts,
      provider: chain?.provider,
      splitter,
      requireAllRecords: opts.requireRecords === true,
    });
    console.log(
      `epoch ${doc.epoch} of ${name} (splitter ${splitter}): ${doc.payments.length} ` +
        `output${doc.payments.length === 1 ? "" : "s"}, claimsRoot ` +
        `${doc.claims.root}, recordsRoot ${doc.records.root}`,
    );
    for (const c of result.checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
    if (!chain) console.log("  (chain not compared: pass --rpc)");
    if (!index && indexes.length === 0)
      console.log("  (records not recomputed: pass --index <folder> or --datanet-from <export url|file>)");
    if (!result.ok) throw new CliError(`epoch ${doc.epoch} of ${name} does NOT verify.`);
    console.log(
      `epoch ${doc.epoch} of ${name} verified${result.recordsRecomputed ? ` (${result.recordsRecomputed} records recomputed)` : ""}.`,
    );
  } finally {
    chain?.provider.destroy();
  }
}
