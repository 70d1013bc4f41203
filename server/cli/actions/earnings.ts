// royalty402 earnings <address>: what a contributor earned, claimed and can claim, per model.
import { getAddress, isAddress } from "ethers";
import { CliError } from "../errors.ts";
import { table, units } from "../format.ts";
import { getJson, serverUrl } from "../http.ts";
import { contributorPath } from "../../util/urls.ts";

export interface Earnings {
  address: string;
  totals: { earned: string; claimed: string; claimable: string; pending: string };
  models: Array<{
    model: string;
    splitter: string;
    latestEpoch: number | null;
    earned: string;
    claimed: string;
    claimable: string;
    pending: string;
    claim: { account: string; cumulativeAmount: string; proof: string[]; epoch: number } | null;
  }>;
}

export function checkedAddress(text: string): string {
  if (!isAddress(text)) throw new CliError(`${JSON.stringify(text)} is not an Ethereum address (0x followed by 40 hex digits).`);
  return getAddress(text.toLowerCase());
}

export async function earnings(address: string, opts: { server?: string; json?: boolean }): Promise<void> {
  const account = checkedAddress(address);
  const base = serverUrl(opts.server);
  const e = await getJson<Earnings>(base, contributorPath(account));
  if (opts.json) {
    console.log(JSON.stringify(e, null, 2));
    return;
  }
  console.log(`${account} on ${base}`);
  if (e.models.length === 0) {
    console.log("no earnings yet: no posted epoch allocates anything to this address.");
    return;
  }
  const rows = e.models.map((m) => [
    m.model,
    m.latestEpoch === null ? "–" : String(m.latestEpoch),
    units(BigInt(m.earned)),
    units(BigInt(m.claimed)),
    units(BigInt(m.claimable)),
    units(BigInt(m.pending)),
  ]);
  rows.push([
    "total",
    "",
    units(BigInt(e.totals.earned)),
    units(BigInt(e.totals.claimed)),
    units(BigInt(e.totals.claimable)),
    units(BigInt(e.totals.pending)),
  ]);
  console.log(
    table(
      [
        { header: "model" },
        { header: "epoch", align: "right" },
        { header: "earned (USDC)", align: "right" },
        { header: "claimed on-chain", align: "right" },
        { header: "claimable now", align: "right" },
        { header: "pending (challenge period)", align: "right" },
      ],
      rows,
    ),
  );
  if (BigInt(e.totals.claimable) > 0n) console.log(`claim it with: royalty402 claim ${account}${opts.server ? ` --server ${base}` : ""}`);
}
