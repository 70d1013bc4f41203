// `npm run demo [-- --once …]`: the royalty402 demo, the same as `royalty402 demo` (see
// server/cli/demo.ts): local chain, contracts, a Brown-corpus datanet, the server and its
// dashboard, an agent paying for inferences with the reference x402 client, epochs posted and
// verified, contributors claiming, and a final table whose on-chain balances must equal the
// computed entitlements to the unit (otherwise the exit code is 1).
import { main } from "../server/cli/main.ts";

process.exit(await main(["demo", ...process.argv.slice(2)]));
