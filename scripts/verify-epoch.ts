// Recomputes a published epoch and compares it with the chain.
//
//   tsx scripts/verify-epoch.ts --doc <file|url> [--rpc <url>] [--splitter <address>]
//                               [--index <dir>] [--texts <file>] [--require-records] [--from-block <n>]
//
// --doc      the epoch document (JSON) as published (the `uri` of EpochPosted)
// --rpc      JSON-RPC endpoint: compare roots with the splitter's EpochPosted event and status
// --splitter splitter address (default: the document's `splitter`)
// --index    datanet index directory: recompute every record whose output text is available
// --texts    JSON {outputId: {output, prompt?}} (default: the document's `texts`)
// Exit code 0 when every check passes, 1 otherwise, 2 on bad usage.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { JsonRpcProvider } from "ethers";
import { loadIndex } from "../server/attribution/store.ts";
import { verifyEpoch } from "../server/attribution/verify.ts";
import type { EpochDocument } from "../server/attribution/epoch.ts";

async function readJson(source: string): Promise<unknown> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source);
    if (!res.ok) throw new Error(`GET ${source}: HTTP ${res.status}`);
    return res.json();
  }
  return JSON.parse(readFileSync(source, "utf8"));
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        doc: { type: "string" },
        rpc: { type: "string" },
        splitter: { type: "string" },
        index: { type: "string" },
        texts: { type: "string" },
        "require-records": { type: "boolean", default: false },
        "from-block": { type: "string" },
      },
    }).values;
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (!args.doc) {
    console.error("usage: verify-epoch --doc <file|url> [--rpc <url>] [--splitter <address>] [--index <dir>] [--texts <file>] [--require-records]");
    return 2;
  }
  const doc = (await readJson(args.doc)) as EpochDocument;
  const provider = args.rpc ? new JsonRpcProvider(args.rpc) : undefined;
  const index = args.index ? loadIndex(args.index) : undefined;
  const texts = args.texts ? ((await readJson(args.texts)) as Record<string, { output: string; prompt?: string | null }>) : undefined;
  const result = await verifyEpoch(doc, {
    index,
    texts,
    provider,
    splitter: args.splitter,
    requireAllRecords: args["require-records"],
    fromBlock: args["from-block"] ? Number(args["from-block"]) : undefined,
  });
  console.log(`epoch ${doc.epoch} of ${doc.splitter ?? "(no splitter)"}: claimsRoot ${doc.claims?.root}, recordsRoot ${doc.records?.root}`);
  for (const c of result.checks) console.log(`${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
  console.log(result.ok ? "epoch verified" : "epoch does NOT verify");
  provider?.destroy();
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`verify-epoch: ${(e as Error).message}`);
    process.exit(1);
  },
);
