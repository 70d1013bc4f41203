// Reading a PaymentSettled log's output and amount without the generic decoder: the same answer
// as the ABI decoder for real encoded logs, nothing for other events.
import { hexlify, randomBytes } from "ethers";
import { describe, expect, it } from "vitest";
import { decodeSettlementLog, paymentSettledAmount, splitterInterface } from "../../server/facilitator/abi.ts";

const bytes32 = () => hexlify(randomBytes(32));
const address = () => hexlify(randomBytes(20));

function encoded(name: string, args: unknown[]) {
  const { topics, data } = splitterInterface.encodeEventLog(splitterInterface.getEvent(name)!, args);
  return { topics, data };
}

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
