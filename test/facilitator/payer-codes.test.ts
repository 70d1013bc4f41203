import { describe, expect, it } from "vitest";
import { PayerCodes } from "../../server/facilitator/payer-codes.ts";

const A = "0x00000000000000000000000000000000000000aA";
const B = "0x00000000000000000000000000000000000000bb";

/** A code reader that counts its reads, over a clock the test moves. */
function setup(maxAgeMs: number) {
  const clock = { now: 0 };
  const reads: string[] = [];
  let code = new Set<string>();
  let failing = false;
  const codes = new PayerCodes(
    async (account) => {
      reads.push(account.toLowerCase());
      if (failing) throw new Error("node unreachable");
      return code.has(account.toLowerCase());
    },
    maxAgeMs,
    () => clock.now,
  );
  return {
    codes,
    clock,
    reads,
    delegate: (account: string) => (code = new Set([...code, account.toLowerCase()])),
    fail: (on: boolean) => (failing = on),
  };
}

describe("payer code reads", () => {
  it("reads a payer once within the age, in any letter case, and again after it", async () => {
    const t = setup(1000);
    expect(await Promise.all([t.codes.has(A), t.codes.has(A.toLowerCase()), t.codes.has(B)])).toEqual([false, false, false]);
    expect(t.reads).toEqual([A.toLowerCase(), B]);
    t.delegate(A); // an EIP-7702 delegation after the read: not seen until the read is a second old
    t.clock.now = 999;
    expect(await t.codes.has(A)).toBe(false);
    t.clock.now = 1000;
    expect(await t.codes.has(A)).toBe(true);
    expect(t.reads).toEqual([A.toLowerCase(), B, A.toLowerCase()]);
  });

  it("with age 0 reads before every batch", async () => {
    const t = setup(0);
    await t.codes.has(A);
    await t.codes.has(A);
    expect(t.reads).toHaveLength(2);
  });

  it("does not remember a failed read", async () => {
    const t = setup(1000);
    t.fail(true);
    await expect(t.codes.has(A)).rejects.toThrow("node unreachable");
    t.fail(false);
    expect(await t.codes.has(A)).toBe(false);
    expect(t.reads).toHaveLength(2);
  });

  it("stays bounded: past 10,000 payers, reads older than the age are forgotten", async () => {
    const t = setup(1000);
    const payer = (i: number) => `0x${i.toString(16).padStart(40, "0")}`;
    for (let i = 0; i < 10_000; i++) await t.codes.has(payer(i));
    expect(t.codes.size).toBe(10_000);
    t.clock.now = 1000;
    await t.codes.has(payer(10_000)); // forgets the 10,000 old reads, keeps its own
    expect(t.codes.size).toBe(1);
    t.clock.now = 1500;
    await t.codes.has(payer(10_000));
    expect(t.reads).toHaveLength(10_001);
  });
});
