// royalty402 chain: a local chain other processes can use (JSON-RPC), with TestUSDC and the
// SplitterFactory deployed, the dev payer funded, and a file telling `serve` and `claim` where
// it is.
import { createServer } from "node:net";
import { DEV_ROLES } from "../../chain/accounts.ts";
import { removeDeployment, writeDeployment } from "../../chain/deployment.ts";
import { startLocalChain } from "../../chain/local.ts";
import { CliError } from "../errors.ts";
import { table, units } from "../format.ts";
import { untilSignal } from "../signals.ts";

/**
 * Refuses a port already in use before starting the chain: Hardhat's JSON-RPC server would
 * report it as an unhandled error event of its WebSocket server, a stack trace.
 */
async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE")
        reject(new CliError(`port ${port} on ${host} is already in use (choose another with --port, or --port 0 for any free port).`));
      else if (e.code === "EACCES") reject(new CliError(`not allowed to listen on ${host}:${port}.`));
      else reject(new CliError(`cannot listen on ${host}:${port}: ${e.message}`));
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

export async function chain(opts: { host: string; port: number; out: string; fund: string }): Promise<void> {
  await checkPortFree(opts.host, opts.port);
  const chain = await startLocalChain({ rpc: { host: opts.host, port: opts.port } });
  try {
    const fund = BigInt(Math.max(0, Math.floor(Number(opts.fund) || 0))) * 1_000_000n;
    if (fund > 0n) await chain.mint(chain.roles.payer.address, fund);
    const file = writeDeployment(opts.out, {
      rpcUrl: chain.rpcUrl!,
      chainId: Number(chain.chainId),
      token: chain.token,
      factory: chain.factory,
      startedAt: Date.now(),
    });
    console.log(`local chain ${chain.chainId} at ${chain.rpcUrl}`);
    console.log(`  TestUSDC         ${chain.token}`);
    console.log(`  SplitterFactory  ${chain.factory}`);
    console.log(`  written to       ${file}`);
    console.log("\ndev accounts (Hardhat's public test keys: local use only):");
    console.log(
      table(
        [{ header: "role" }, { header: "address" }, { header: "private key" }],
        Object.keys(DEV_ROLES).map((role) => {
          const w = chain.roles[role as keyof typeof DEV_ROLES];
          return [role === "payer" ? `payer (${units(fund)} USDC)` : role, w.address, w.privateKey];
        }),
      ),
    );
    console.log("\nnext: `royalty402 serve` (uses this chain), then `royalty402 pay http://127.0.0.1:8402`. Ctrl+C stops the chain.");
    await untilSignal();
  } finally {
    removeDeployment(opts.out);
    await chain.close();
  }
}
