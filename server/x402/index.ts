export { x402Payments, REDELIVERED_HEADER, type PaymentsOptions } from "./payments.ts";
export { ledgerPaymentStore } from "./store.ts";
export { PaymentReconciler, type ReconcileOptions, type ReconcileReport } from "./reconciler.ts";
