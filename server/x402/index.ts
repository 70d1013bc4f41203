export { x402Payments, type PaymentsOptions } from "./payments.ts";
