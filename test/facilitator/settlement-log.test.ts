// Reading a PaymentSettled log's output and amount without the generic decoder: the same answer
// as the ABI decoder for real encoded logs, nothing for other events.
import { hexlify, randomBytes } from "ethers";
import { decodeEventLog, parseAbi, type Hex } from "viem";
import { describe, expect, it } from "vitest";
import { SPLITTER_ABI } from "../../server/chain/abi.ts";
import { decodeSettlementLog, paymentSettledAmount, splitterInterface } from "../../server/facilitator/abi.ts";

const bytes32 = () => hexlify(randomBytes(32));
const address = () => hexlify(randomBytes(20));

function encoded(name: string, args: unknown[]) {
  const { topics, data } = splitterInterface.encodeEventLog(splitterInterface.getEvent(name)!, args);
  return { topics, data };
}

describe("decodeSettlementLog", () => {
  const abi = parseAbi(SPLITTER_ABI.filter((item) => item.startsWith("event ")));
  const generic = (log: { topics: string[]; data: string }) =>
    decodeEventLog({ abi, data: log.data as Hex, topics: log.topics as [Hex, ...Hex[]] });

  it("reads PaymentSettled by position as the generic ABI decoder does (50 logs)", () => {
    for (let i = 0; i < 50; i++) {
      const log = encoded("PaymentSettled", [bytes32(), address(), i === 0 ? 2n ** 256n - 1n : BigInt(i), bytes32(), bytes32()]);
      const { eventName, args } = generic(log) as unknown as { eventName: string; args: Record<string, unknown> };
      expect(decodeSettlementLog(log)).toEqual({ name: eventName, ...args, nonce: String(args.nonce).toLowerCase() });
    }
  });

  it("still decodes PaymentSkipped, and refuses a PaymentSettled log that is not laid out as one", () => {
    const skipped = encoded("PaymentSkipped", [bytes32(), address(), bytes32(), "0x1234"]);
    expect(decodeSettlementLog(skipped)).toMatchObject({ name: "PaymentSkipped", reason: "0x1234" });
    const settled = encoded("PaymentSettled", [bytes32(), address(), 5n, bytes32(), bytes32()]);
    expect(decodeSettlementLog({ ...settled, data: settled.data.slice(0, -64) })).toBeNull();
    expect(decodeSettlementLog({ ...settled, topics: settled.topics.slice(0, 2) })).toBeNull();
  });
});

describe("paymentSettledAmount", () => {
  it("reads the output id and amount the ABI decoder reads", () => {
    for (const amount of [1n, 1080n, 2n ** 255n + 7n]) {
      const log = encoded("PaymentSettled", [bytes32(), address(), amount, bytes32(), bytes32()]);
      const decoded = decodeSettlementLog(log);
      if (decoded?.name !== "PaymentSettled") throw new Error("not decoded");
      expect(paymentSettledAmount(log)).toEqual({ outputId: decoded.outputId.toLowerCase(), amount: decoded.amount });
      expect(paymentSettledAmount({ ...log, topics: log.topics.map((t) => t.toUpperCase().replace("0X", "0x")) })?.amount).toBe(amount);
    }
  });

  it("answers null for other events and malformed logs", () => {
    const skipped = encoded("PaymentSkipped", [bytes32(), address(), bytes32(), "0x1234"]);
    expect(paymentSettledAmount(skipped)).toBeNull();
    const settled = encoded("PaymentSettled", [bytes32(), address(), 5n, bytes32(), bytes32()]);
    expect(paymentSettledAmount({ ...settled, data: settled.data.slice(0, -64) })).toBeNull();
    expect(paymentSettledAmount({ ...settled, topics: settled.topics.slice(0, 2) })).toBeNull();
  });
});
