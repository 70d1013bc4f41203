// Payers for gas benchmarks: fresh keys holding tokens, as many as a figure needs distinct payers (the
// chain's 20 dev accounts are too few for a batch of 32). They only sign: relayers send the transactions.
import { ethers as E } from "ethers";
import type { Stack } from "../shared/stack.ts";

export async function fundedWallets(stack: Stack, count: number, amount = 10n ** 12n): Promise<E.Wallet[]> {
  const wallets = Array.from({ length: count }, () => new E.Wallet(E.Wallet.createRandom().privateKey));
  for (const w of wallets) await (await stack.token.mint(w.address, amount)).wait();
  return wallets;
}
