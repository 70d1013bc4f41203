// Separate OS processes for the SQLite multi-process tests (test/ledger/sqlite.test.ts).
//   race <path> <inputs.json>: open + migrate, print "ready", wait for "go" on stdin, reserve
//     every payment in its own shuffled order, print the JSON list of nonces it won.
//   churn <path> [thread]: reserve fresh payments forever, printing each nonce once reserve() has
//     returned (the parent kills -9 it mid-stream and checks every printed one survived); with
//     "thread", through the ledger in a worker thread (thread.ts, database.sqliteThread).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { openSqliteThread } from "../../server/ledger/thread.ts";

const [mode, path, inputsFile] = process.argv.slice(2);
const ledger = mode === "churn" && inputsFile === "thread" ? await openSqliteThread({ path }) : new SqliteLedger({ path });
await ledger.migrate();
const hex = (n: number) => "0x" + randomBytes(n).toString("hex");

if (mode === "race") {
  const inputs = JSON.parse(readFileSync(inputsFile, "utf8")) as Parameters<SqliteLedger["reserve"]>[0][];
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
} else if (mode === "churn") {
  const payer = hex(20);
  for (;;) {
    const nonce = hex(32);
    await ledger.reserve({
      network: "eip155:31337",
      asset: hex(20),
      payer,
      nonce,
      payTo: hex(20),
      amount: "1",
      modelId: "m",
      outputId: null,
      payload: "{}",
    });
    process.stdout.write(nonce + "\n");
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
