// A ledger instance in its own OS process for test/ledger/instances.test.ts: opens the shared
// PostgreSQL schema with maintenance on (heartbeat), reserves one payment, prints its key and
// then idles with the reservation in flight until the parent kills it with SIGKILL.
import { randomBytes } from "node:crypto";
import { openLedger } from "../../server/ledger/index.ts";

const [url, schema] = process.argv.slice(2);
const ledger = await openLedger({ databaseUrl: url, postgres: { schema, poolSize: 2 } });
const hex = (n: number) => "0x" + randomBytes(n).toString("hex");
const r = await ledger.reserve({
  network: "eip155:31337",
  asset: hex(20),
  payer: hex(20),
  nonce: hex(32),
  payTo: hex(20),
  amount: "1",
  modelId: "m",
  outputId: null,
  payload: "{}",
});
if (!r.reserved) throw new Error("expected a fresh reservation");
await ledger.heartbeat();
const { network, asset, payer, nonce } = r.payment;
process.stdout.write(JSON.stringify({ network, asset, payer, nonce }) + "\n");
setInterval(() => undefined, 1 << 30);
