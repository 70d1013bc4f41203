// The splitter's fixed cuts, exactly as RoyaltySplitter._cuts and _pool compute them: both cuts
// are floored together, then split (the protocol takes the remainder of the fees), and the
// contributor pool is the rest. So owner + protocol + pool == received, and each only grows as
// `received` grows.
export const BPS = 10_000n;

export interface FixedCuts {
  owner: bigint;
  protocol: bigint;
  /** What contributors may be allocated in total out of `received`. */
  pool: bigint;
}

export function fixedCuts(received: bigint, ownerBps: number | bigint, protocolBps: number | bigint): FixedCuts {
  const ob = BigInt(ownerBps);
  const feeBps = ob + BigInt(protocolBps);
  if (feeBps === 0n) return { owner: 0n, protocol: 0n, pool: received };
  const fees = (received * feeBps) / BPS;
  const owner = (fees * ob) / feeBps;
  return { owner, protocol: fees - owner, pool: received - fees };
}
