// Contract-side reliability figures, measured on the in-process chain through the real facilitator
// (verify, batcher, relayer) and the real contracts: batch griefing by EIP-7702-delegated payers, role
// rotations, and front-run authorizations linked after the fact. `npm run bench:gas` runs it and writes
// scripts/bench/results/contracts-reliability.json (sections in the shape of reliability.json, which the
// reliability bench may merge under the same keys).
import { ethers as E } from "ethers";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { EmbeddedFacilitator, linkFrontRun } from "../../../server/facilitator/index.ts";
import { TRANSFER_WITH_AUTHORIZATION_TYPES } from "../../../server/facilitator/abi.ts";
import { deployStack, type Chain } from "../../shared/stack.ts";

const ITEMS = 32;
const VALUE = 10_000n;

async function facilitatorStack(chain: Chain) {
  const relayerWallet = E.Wallet.createRandom();
  const s = await deployStack(chain, { facilitator: relayerWallet.address }, { payers: 0 });
  await s.connection.provider.request({ method: "hardhat_setBalance", params: [relayerWallet.address, "0x56BC75E2D63100000"] });
  const relayer = new E.Wallet(relayerWallet.privateKey, s.ethers.provider);
  const facilitator = await EmbeddedFacilitator.create({
    provider: s.ethers.provider,
    relayer,
    batch: { maxBatchSize: ITEMS, maxWaitMs: 200 },
  });
  const asset = await s.token.getAddress();
  const payTo = await s.splitter.getAddress();
  const requirements: PaymentRequirements = {
    scheme: "exact",
    network: `eip155:${s.chainId}`,
    asset,
    amount: VALUE.toString(),
    payTo,
    maxTimeoutSeconds: 300,
    extra: { name: "USD Coin", version: "2" },
  };
  return { s, facilitator, relayer, asset, payTo, requirements };
}

type Stack = Awaited<ReturnType<typeof facilitatorStack>>;

/** An x402 exact payment signed by `wallet`, as the reference client builds it. */
async function payment(st: Stack, wallet: E.Wallet | E.HDNodeWallet): Promise<{ payload: PaymentPayload; nonce: string }> {
  const now = BigInt((await st.s.ethers.provider.getBlock("latest"))!.timestamp);
  const authorization = {
    from: wallet.address,
    to: st.payTo,
    value: VALUE,
    validAfter: 0n,
    validBefore: now + 600n,
    nonce: E.hexlify(E.randomBytes(32)),
  };
  const domain = { name: "USD Coin", version: "2", chainId: st.s.chainId, verifyingContract: st.asset };
  const signature = await wallet.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, authorization);
  const payload = {
    x402Version: 2,
    accepted: st.requirements,
    payload: {
      authorization: { ...authorization, value: VALUE.toString(), validAfter: "0", validBefore: authorization.validBefore.toString() },
      signature,
    },
  } as unknown as PaymentPayload;
  return { payload, nonce: authorization.nonce };
}

async function fundedWallets(st: Stack, n: number) {
  const wallets = Array.from({ length: n }, () => E.Wallet.createRandom());
  for (const w of wallets) await (await st.s.token.mint(w.address, VALUE * 10n)).wait();
  return wallets;
}

/** 32 payments verified as plain EOAs; `burners` of the payers then delegate (EIP-7702) to a gas burner. */
async function griefingRun(chain: Chain, burners: number) {
  const st = await facilitatorStack(chain);
  const burner = await (await st.s.ethers.deployContract("DelegatedGasBurner")).getAddress();
  const wallets = await fundedWallets(st, ITEMS);
  const payments = await Promise.all(wallets.map((w) => payment(st, w)));
  const verdicts = await Promise.all(payments.map((p) => st.facilitator.verify(p.payload, st.requirements)));
  const step = Math.floor(ITEMS / burners);
  const attackers = new Set(Array.from({ length: burners }, (_, i) => wallets[i * step + 1].address));
  for (const a of attackers) {
    await st.s.connection.provider.request({ method: "hardhat_setCode", params: [a, `0xef0100${burner.slice(2).toLowerCase()}`] });
  }
  const results = await Promise.all(payments.map((p) => st.facilitator.settle(p.payload, st.requirements)));
  st.facilitator.close();
  const honest = results.filter((_, i) => !attackers.has(wallets[i].address));
  const hashes = new Set(results.map((r) => r.transaction).filter(Boolean));
  let gasUsed = 0n;
  for (const h of hashes) gasUsed += (await st.s.ethers.provider.getTransactionReceipt(h))!.gasUsed;
  return {
    burners,
    verifiedValid: verdicts.filter((v) => v.isValid).length,
    honest: honest.length,
    honestSettled: honest.filter((r) => r.success).length,
    honestReverted: honest.filter((r) => !r.success).length,
    burnersSettled: results.filter((r, i) => attackers.has(wallets[i].address) && r.success).length,
    transactions: hashes.size,
    gasUsed: Number(gasUsed),
  };
}

/** Every role handed over once (two-step), the oracle twice: lost key (owner) and leaked key (guardian). */
async function rotations(chain: Chain) {
  const s = await deployStack(chain, { challengePeriod: 3600 }, { payers: 0 });
  await (await s.token.mint(await s.splitter.getAddress(), 1_000_000n)).wait();
  const [owner2, guardian2, protocol2, oracle2, oracle3, thief] = s.others;
  const mine = async (tx: Promise<E.ContractTransactionResponse>) => (await tx).wait();
  const later = () => s.connection.networkHelpers.time.increase(3600);
  const done: string[] = [];
  await mine(s.splitter.connect(s.roles.owner).proposeOwner(owner2.address));
  await mine(s.splitter.connect(owner2).acceptOwner());
  if ((await s.splitter.owner()) === owner2.address) done.push("owner");
  await mine(s.splitter.connect(s.roles.guardian).proposeGuardian(guardian2.address));
  await mine(s.splitter.connect(guardian2).acceptGuardian());
  if ((await s.splitter.guardian()) === guardian2.address) done.push("guardian");
  await mine(s.splitter.connect(s.roles.protocol).proposeProtocolRecipient(protocol2.address));
  await mine(s.splitter.connect(protocol2).acceptProtocolRecipient());
  if ((await s.splitter.protocolRecipient()) === protocol2.address) done.push("protocolRecipient");
  // Lost oracle key: the owner proposes a replacement, which accepts after one challenge period.
  await mine(s.splitter.connect(owner2).proposeOracle(oracle2.address));
  await later();
  await mine(s.splitter.connect(oracle2).acceptOracle());
  if ((await s.splitter.oracle()) === oracle2.address) done.push("oracle (lost key, by the owner)");
  // Leaked oracle key: a theft epoch, vetoed; the guardian rotates the oracle out; nothing reaches the thief.
  const pool = await s.splitter.contributorPool();
  const leaf = E.keccak256(E.concat([E.keccak256(E.AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [thief.address, pool]))]));
  await mine(s.splitter.connect(oracle2).postEpoch(1, leaf, pool, E.ZeroHash, ""));
  await mine(s.splitter.connect(guardian2).vetoEpoch(1));
  await mine(s.splitter.connect(guardian2).proposeOracle(oracle3.address));
  let leakedPosts = 0;
  await later();
  await later();
  try {
    await mine(s.splitter.connect(oracle2).postEpoch(1, leaf, pool, E.ZeroHash, ""));
    leakedPosts++;
  } catch {
    // refused while the rotation is proposed
  }
  try {
    await mine(s.splitter.claim(thief.address, pool, []));
  } catch {
    // no active root names the thief
  }
  await mine(s.splitter.connect(oracle3).acceptOracle());
  if ((await s.splitter.oracle()) === oracle3.address) done.push("oracle (leaked key, by the guardian)");
  return {
    rotationsTested: done.length,
    rotations: done,
    leakedOracleEpochsAccepted: leakedPosts,
    leakedOracleMoved: Number(await s.token.balanceOf(thief.address)),
  };
}

/** Payments whose authorization someone sent straight to the token first, then linked by linkFrontRun. */
async function frontRuns(chain: Chain, count = 8) {
  const st = await facilitatorStack(chain);
  const wallets = await fundedWallets(st, count);
  let linked = 0;
  for (const w of wallets) {
    const p = await payment(st, w);
    const a = (p.payload.payload as { authorization: Record<string, string>; signature: string }).authorization;
    const signature = (p.payload.payload as { signature: string }).signature;
    await (
      await st.s.token
        .connect(st.s.roles.keeper)
        ["transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"](
          a.from,
          a.to,
          a.value,
          a.validAfter,
          a.validBefore,
          a.nonce,
          signature,
        )
    ).wait();
    const settled = await st.facilitator.settle(p.payload, st.requirements);
    if (settled.success) continue; // cannot happen: the nonce is used
    const outcome = await linkFrontRun(st.facilitator.relayer, {
      asset: st.asset,
      splitter: st.payTo,
      payer: w.address,
      nonce: p.nonce,
      value: VALUE,
      outputId: E.hexlify(E.randomBytes(32)),
      attributionRoot: E.hexlify(E.randomBytes(32)),
    });
    if (outcome.status === "linked") linked++;
  }
  st.facilitator.close();
  return { frontRun: count, linked, linkedAll: linked === count };
}

export async function contractReliability(chain: Chain) {
  const runs = [];
  for (const burners of [1, 8]) runs.push(await griefingRun(chain, burners));
  return {
    griefing: { items: ITEMS, honestReverted: runs.reduce((a, r) => a + r.honestReverted, 0), runs },
    roles: await rotations(chain),
    frontRun: await frontRuns(chain),
  };
}
