// royalty402 claim <address>: pays out what an address can claim now, on every model's
// splitter, using the claim (cumulative amount + Merkle proof) the server publishes. Anyone may
// submit a claim (the tokens always go to the address), so the signer is just a keeper.
import { Contract, Wallet, type JsonRpcApiProvider } from "ethers";
import { SPLITTER_ABI, TOKEN_ABI } from "../../chain/abi.ts";
import { LOCAL_CHAIN_ID } from "../../chain/accounts.ts";
import { DEFAULT_DEPLOYMENT_FILE, readDeployment } from "../../chain/deployment.ts";
import { RpcUnavailableError, connectRpcProvider } from "../../chain/rpc.ts";
import { CliError } from "../errors.ts";
import { units } from "../format.ts";
import { getJson, serverUrl } from "../http.ts";
import { signingKey } from "../keys.ts";
import { checkedAddress, type Earnings } from "./earnings.ts";
import { contributorPath } from "../../util/urls.ts";

export function rpcUrlOf(option: string | undefined): string {
  const url = option ?? process.env.ROYALTY402_RPC_URL ?? readDeployment(DEFAULT_DEPLOYMENT_FILE)?.rpcUrl;
  if (!url)
    throw new CliError("no chain to send to: pass --rpc <url>, set ROYALTY402_RPC_URL, or start a local chain with `royalty402 chain`.");
  return url;
}

export async function connectRpc(url: string): Promise<{ provider: JsonRpcApiProvider; chainId: bigint }> {
  try {
    return await connectRpcProvider(url);
  } catch (e) {
    if (e instanceof RpcUnavailableError) throw new CliError(`${e.message}: is \`royalty402 chain\` (or your RPC endpoint) running?`);
    throw e;
  }
}

export async function claim(address: string, opts: { server?: string; rpc?: string }): Promise<void> {
  const account = checkedAddress(address);
  const base = serverUrl(opts.server);
  const earnings = await getJson<Earnings>(base, contributorPath(account));
  const claims = earnings.models.filter((m) => m.claim !== null);
  if (claims.length === 0) {
    console.log(
      `nothing to claim for ${account}: claimed ` +
        `${units(BigInt(earnings.totals.claimed))} USDC so far, ` +
        `${units(BigInt(earnings.totals.pending))} USDC still in a challenge period.`,
    );
    return;
  }
  const { provider, chainId } = await connectRpc(rpcUrlOf(opts.rpc));
  try {
    const key = signingKey("ROYALTY402_KEEPER_KEY", "keeper", "submits the claim (any funded account)", chainId === LOCAL_CHAIN_ID);
    const keeper = new Wallet(key.privateKey, provider);
    if (key.dev) console.log(`signing with the local dev keeper account ${keeper.address}`);
    let total = 0n;
    let token: Contract | null = null;
    for (const m of claims) {
      const splitter = new Contract(m.splitter, SPLITTER_ABI, keeper);
      const before = BigInt(await splitter.getFunction("claimed")(account));
      const claim = m.claim!;
      let receipt;
      try {
        receipt = await (await splitter.getFunction("claim")(claim.account, claim.cumulativeAmount, claim.proof)).wait();
      } catch (e) {
        throw new CliError(
          `the claim on ${m.model}'s splitter ${m.splitter} was refused by the chain: ` +
            `${(e as { shortMessage?: string }).shortMessage ?? (e as Error).message.split("\n")[0]}.`,
        );
      }
      const paid = BigInt(await splitter.getFunction("claimed")(account)) - before;
      total += paid;
      console.log(
        `${m.model}: claimed ${units(paid)} USDC (cumulative ` +
          `${units(BigInt(claim.cumulativeAmount))}, epoch ${claim.epoch}) in ` +
          `tx ${receipt.hash}`,
      );
      token ??= new Contract(await tokenOf(provider, m.splitter), TOKEN_ABI, provider);
    }
    const balance = token ? BigInt(await token.getFunction("balanceOf")(account)) : 0n;
    console.log(`paid ${units(total)} USDC to ${account}; its balance is now ${units(balance)} USDC.`);
  } finally {
    provider.destroy();
  }
}

async function tokenOf(provider: JsonRpcApiProvider, splitter: string): Promise<string> {
  const c = new Contract(
    splitter,
    [
      "function config() view returns (tuple(address token, " +
        "address owner, address facilitator, address oracle, address " +
        "guardian, address protocolRecipient, uint16 ownerBps, uint16 protocolBps, uint32 challengePeriod))",
    ],
    provider,
  );
  return (await c.getFunction("config")()).token;
}
