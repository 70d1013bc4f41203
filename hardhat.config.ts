import { createRequire } from "node:module";
import { configVariable, defineConfig } from "hardhat/config";
import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";

// Hardhat cannot download solc here (no internet): compile with the pinned solc-js package.
// Keep `version` equal to the exact "solc" version in package.json.
const require = createRequire(import.meta.url);
const SOLC_VERSION = "0.8.37";

export default defineConfig({
  plugins: [hardhatToolboxMochaEthers],
  // scripts/bench/contracts holds benchmark-only baselines, kept out of the product's contracts/.
  paths: { sources: { solidity: ["contracts", "scripts/bench/contracts"] } },
  solidity: {
    version: SOLC_VERSION,
    path: require.resolve("solc/soljson.js"),
    settings: {
      optimizer: { enabled: true, runs: 10_000 },
      evmVersion: "cancun",
    },
  },
  test: {
    // Invariant handlers guard their own preconditions, so any revert in a handler is a bug.
    solidity: { invariant: { failOnRevert: true, runs: 256, depth: 40 } },
  },
  networks: {
    hardhatMainnet: { type: "edr-simulated", chainType: "l1" },
    // OP-stack simulation (L1Block / GasPriceOracle predeploys, l1Fee in receipts): bench:economics.
    hardhatOp: { type: "edr-simulated", chainType: "op" },
    localhost: { type: "http", url: process.env.RPC_URL ?? "http://127.0.0.1:8545" },
    baseSepolia: {
      type: "http",
      chainType: "op",
      chainId: 84532,
      url: configVariable("BASE_SEPOLIA_RPC_URL"),
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
    base: {
      type: "http",
      chainType: "op",
      chainId: 8453,
      url: configVariable("BASE_RPC_URL"),
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
  },
});
