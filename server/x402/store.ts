// The payment plugin's store over the server's ledger (SQLite or PostgreSQL): the plugin's
// `resource` is the ledger's model id.
import type { HeldOutput, PaymentRecord as StoredPayment, PaymentStore } from "@royalty402/fastify-x402";
import type { Ledger, PaymentRecord } from "../ledger/index.ts";

function toStored({ modelId, ...rest }: PaymentRecord): StoredPayment {
  return { ...rest, resource: modelId };
}

export function ledgerPaymentStore(ledger: Ledger): PaymentStore {
  return {
    async reserve({ resource, ...payment }) {
      const result = await ledger.reserve({ ...payment, modelId: resource });
      return result.reserved
        ? { reserved: true, payment: toStored(result.payment) }
        : { reserved: false, existing: toStored(result.existing) };
    },
    async transition(key, from, to, fields) {
      const row = await ledger.transition(key, from, to, fields);
      return row && toStored(row);
    },
    async get(key) {
      const row = await ledger.getPayment(key);
      return row && toStored(row);
    },
    holdOutput: (output: HeldOutput) => ledger.holdOutput(output),
    async holdAndTransition(output, from, to, fields) {
      if (to === "settled") throw new Error("holdAndTransition does not settle (settlements are batched)");
      const { row, ...held } = await ledger.holdAndTransition(output, from, to, fields);
      return { row: row && toStored(row), ...held };
    },
    async getHeldOutput(outputId) {
      const held = await ledger.getHeldOutput(outputId);
      return held && { output: held.output, payment: toStored(held.payment) };
    },
    claimPaymentId: (claim) => ledger.claimPaymentId(claim),
    getPaymentId: (paymentId) => ledger.getPaymentId(paymentId),
  };
}
