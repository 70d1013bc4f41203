import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/** The factory (and, inside its constructor, the RoyaltySplitter implementation). Same on every chain. */
export default buildModule("SplitterFactory", (m) => {
  const factory = m.contract("SplitterFactory");
  return { factory };
});
