// Two server instances sharing PostgreSQL, one of them a separate process killed with
// SIGKILL while its request holds a reservation: the live instance releases that
// reservation within 30 s (default heartbeat and staleness), and never its own in-flight one.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, expect, inject, it } from "vitest";
import { openLedger } from "../../server/ledger/index.ts";
import type { PaymentKey } from "../../server/ledger/types.ts";
import { keyOf, paymentInput } from "../support/ledger-contract.ts";
import { recordResults } from "../../scripts/shared/results.ts";

const url = inject("postgresUrl");
const schema = `inst_${Math.random().toString(36).slice(2, 10)}`;
const admin = new pg.Pool({ connectionString: url, max: 1 });
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

it("a reservation of an instance killed -9 is released within 30 s; the live instance's stays reserved", async () => {
  const live = await openLedger({ databaseUrl: url, postgres: { schema, poolSize: 2 } });
  try {
    const mine = await live.reserve(paymentInput());
    if (!mine.reserved) throw new Error("expected a fresh reservation");

    const child = spawn(
      process.execPath,
      [
        "--disable-warning=ExperimentalWarning",
        "--import",
        "tsx",
        fileURLToPath(new URL("./instance-child.ts", import.meta.url)),
        url,
        schema,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const theirs = await new Promise<PaymentKey>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]) as PaymentKey);
      });
      child.on("exit", (code) => reject(new Error(`child exited (${code}): ${err}`)));
    });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();

    let status = "reserved";
    while (status === "reserved" && Date.now() - killedAt < 40_000) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await live.getPayment(theirs))!.status;
    }
    const seconds = (Date.now() - killedAt) / 1000;
    await recordResults("deadInstance", { deadReservationReleaseSeconds: Number(seconds.toFixed(1)), database: "postgresql" });
    expect(status).toBe("released");
    expect(seconds).toBeLessThan(30);
    expect((await live.getPayment(keyOf(mine.payment)))?.status).toBe("reserved");
  } finally {
    await live.close();
  }
});
