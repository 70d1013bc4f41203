export { x402Payments, type PaymentsOptions } from "./payments.ts";
export { PaymentReconciler, type ReconcileOptions } from "./reconciler.ts";
