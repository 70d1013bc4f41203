// royalty402 epoch close|verify: close an epoch now (admin), or recompute a published epoch and
// compare it with the chain.
import { loadIndex, verifyEpoch, type EpochDocument } from "../../attribution/index.ts";
import { CliError } from "../errors.ts";
import { units } from "../format.ts";
import { adminToken, getJson, postJson, serverUrl } from "../http.ts";
import { connectRpc } from "./claim.ts";

type CloseResult = { status: string; model: string; epoch?: number; outputs?: number; cumulativeAllocated?: string; txHash?: string | null; reason?: string };

export async function close(opts: { model?: string; server?: string }): Promise<void> {
  const { results } = await postJson<{ results: CloseResult[] }>(serverUrl(opts.server), "/admin/epochs/close", opts.model ? { model: opts.model } : {}, adminToken());
  for (const r of results) {
    if (r.status === "closed") console.log(`${r.model}: epoch ${r.epoch} posted: ${r.outputs} output${r.outputs === 1 ? "" : "s"}, ${units(BigInt(r.cumulativeAllocated ?? "0"))} USDC allocated (cumulative), tx ${r.txHash}`);
    else console.log(`${r.model}: ${r.status}${r.reason ? ` (${r.reason.replace(/_/g, " ")})` : ""}${r.epoch ? `, epoch ${r.epoch}` : ""}`);
  }
}

export async function verify(modelId: string, epochText: string, opts: { server?: string; rpc?: string; index?: string }): Promise<void> {
  if (!/^[1-9]\d{0,8}$/.test(epochText)) throw new CliError(`${JSON.stringify(epochText)} is not an epoch number (1, 2, …).`);
  const base = serverUrl(opts.server);
  const model = await getJson<{ id: string; payTo: string }>(base, `/v1/models/${encodeURIComponent(modelId)}`);
  const doc = await getJson<EpochDocument>(base, `/epochs/${model.payTo}/${epochText}`);
  let index;
  if (opts.index) {
    try {
      index = loadIndex(opts.index);
    } catch (e) {
      throw new CliError(`cannot load the index in ${opts.index}: ${(e as Error).message.replace(/\.$/, "")}.`);
    }
  }
  const rpc = opts.rpc ?? process.env.ROYALTY402_RPC_URL;
  const chain = rpc ? await connectRpc(rpc) : null;
  try {
    const result = await verifyEpoch(doc, { index, provider: chain?.provider, splitter: model.payTo });
    console.log(`epoch ${doc.epoch} of ${model.id} (splitter ${model.payTo}): ${doc.payments.length} output${doc.payments.length === 1 ? "" : "s"}, claimsRoot ${doc.claims.root}, recordsRoot ${doc.records.root}`);
    for (const c of result.checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
    if (!chain) console.log("  (chain not compared: pass --rpc)");
    if (!index) console.log("  (records not recomputed: pass --index <datanet index folder>)");
    if (!result.ok) throw new CliError(`epoch ${doc.epoch} of ${model.id} does NOT verify.`);
    console.log(`epoch ${doc.epoch} of ${model.id} verified${result.recordsRecomputed ? ` (${result.recordsRecomputed} records recomputed)` : ""}.`);
  } finally {
    chain?.provider.destroy();
  }
}
