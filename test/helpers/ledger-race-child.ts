// A separate OS process for the cross-process SQLite race (test/ledger.sqlite.test.ts):
// opens the ledger file, migrates, prints "ready", waits for "go" on stdin, reserves every
// payment given in argv[3] (a JSON file) in its own shuffled order, and prints the nonces it won.
import { readFileSync } from "node:fs";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";

const [path, inputsFile] = process.argv.slice(2);
const inputs = JSON.parse(readFileSync(inputsFile, "utf8")) as Parameters<SqliteLedger["reserve"]>[0][];
const ledger = new SqliteLedger({ path });
await ledger.migrate();
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
const order = inputs.map((input) => ({ input, r: Math.random() })).sort((a, b) => a.r - b.r);
const won: string[] = [];
for (const { input } of order) {
  const r = await ledger.reserve(input);
  if (r.reserved) won.push(r.payment.nonce);
  else if (r.existing.nonce !== input.nonce.toLowerCase()) throw new Error("returned the wrong payment");
}
await ledger.close();
process.stdout.write(JSON.stringify(won) + "\n");
