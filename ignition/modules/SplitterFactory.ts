import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/**
 * The factory (and, inside its constructor, the RoyaltySplitter implementation). `minChallengePeriod`
 * (seconds, never zero) is the shortest challenge period it lets a splitter have: one second by
 * default, for local chains; public chains set it in ignition/parameters.
 */
export default buildModule("SplitterFactory", (m) => {
  const factory = m.contract("SplitterFactory", [m.getParameter<number>("minChallengePeriod", 1)]);
  return { factory };
});
