import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import SplitterFactoryModule from "./SplitterFactory.ts";

/**
 * One model endpoint's splitter, created through the factory from parameters alone, so the same
 * module deploys to the local chain, Base Sepolia or Base (see ignition/parameters/*.json).
 * `salt` is a bytes32 naming the model (e.g. keccak256 of its id); the address is also what
 * `SplitterFactory.predictSplitter(config, salt)` returns before deployment.
 */
export default buildModule("ModelSplitter", (m) => {
  const { factory } = m.useModule(SplitterFactoryModule);
  const deployer = m.getAccount(0);
  const config = {
    token: m.getParameter<string>("token"),
    owner: m.getParameter("owner", deployer),
    facilitator: m.getParameter("facilitator", deployer),
    oracle: m.getParameter("oracle", deployer),
    // No default: the guardian must be set and must not be the oracle (the factory refuses otherwise).
    guardian: m.getParameter<string>("guardian"),
    protocolRecipient: m.getParameter("protocolRecipient", deployer),
    ownerBps: m.getParameter<number>("ownerBps", 1000),
    protocolBps: m.getParameter<number>("protocolBps", 200),
    challengePeriod: m.getParameter<number>("challengePeriod", 3600),
  };
  const created = m.call(factory, "createSplitter", [config, m.getParameter<string>("salt")]);
  const address = m.readEventArgument(created, "SplitterCreated", "splitter");
  const splitter = m.contractAt("RoyaltySplitter", address);
  return { factory, splitter };
});
