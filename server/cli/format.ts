// Amounts and tables for the terminal. Amounts stay bigint until printed.

/** Atomic units as a decimal string with `decimals` places (6 for USDC). */
export function units(amount: bigint, decimals = 6): string {
  const negative = amount < 0n;
  const a = negative ? -amount : amount;
  const scale = 10n ** BigInt(decimals);
  const whole = a / scale;
  const frac = (a % scale).toString().padStart(decimals, "0");
  return `${negative ? "-" : ""}${whole}${decimals > 0 ? `.${frac}` : ""}`;
}

/** A decimal amount ("0.05") in atomic units; null if it is not one. */
export function parseUnits(text: string, decimals = 6): bigint | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return null;
  const frac = m[2] ?? "";
  if (frac.length > decimals) return null;
  return BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
}

const _short = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`;

export interface Column {
  header: string;
  align?: "left" | "right";
}

/** A plain aligned table (no borders: easy to read, copy and grep). */
export function table(columns: Column[], rows: string[][]): string {
  const width = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (columns[i].align === "right" ? cell.padStart(width[i]) : cell.padEnd(width[i])))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(width.map((w) => "─".repeat(w))), ...rows.map(line)].join("\n");
}
