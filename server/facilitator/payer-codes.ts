// Whether a batch's payers have code (a wallet, or an account delegated with EIP-7702), read at
// most once per payer within `maxAgeMs`. The read only sorts payers into batches with the right
// per-item gas cap; the cap itself is what bounds a payer whose code changes after the read (its
// item burns at most its own cap and is skipped), so a second-old answer costs nothing but that
// item, and saves the node one eth_getCode per payer per batch.
const MAX_PAYERS = 10_000;

export class PayerCodes {
  private readonly reads = new Map<string, { has: Promise<boolean>; at: number }>();

  constructor(
    private readonly read: (account: string) => Promise<boolean>,
    /** 0: read before every batch. */
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Payers remembered (bounded). */
  get size(): number {
    return this.reads.size;
  }

  has(account: string): Promise<boolean> {
    const key = account.toLowerCase();
    const at = this.now();
    const known = this.reads.get(key);
    if (known && at - known.at < this.maxAgeMs) return known.has;
    if (this.reads.size >= MAX_PAYERS) this.forgetOld(at);
    const has = this.read(account);
    const entry = { has, at };
    this.reads.set(key, entry);
    // A failed read is not remembered: the next batch asks again.
    has.catch(() => this.reads.get(key) === entry && this.reads.delete(key));
    return has;
  }

  private forgetOld(at: number): void {
    for (const [key, read] of this.reads) if (at - read.at >= this.maxAgeMs) this.reads.delete(key);
    if (this.reads.size >= MAX_PAYERS) this.reads.clear();
  }
}
