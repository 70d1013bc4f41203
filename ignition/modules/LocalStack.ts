import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import SplitterFactoryModule from "./SplitterFactory.ts";

/**
 * Local chains only: TestUSDC, the factory and one splitter paid in TestUSDC. Public chains use
 * ModelSplitter.ts with the chain's real USDC as the `token` parameter instead.
 */
export default buildModule("LocalStack", (m) => {
  const token = m.contract("TestUSDC");
  const { factory } = m.useModule(SplitterFactoryModule);
  const config = {
    token,
    owner: m.getParameter("owner", m.getAccount(1)),
    facilitator: m.getParameter("facilitator", m.getAccount(2)),
    oracle: m.getParameter("oracle", m.getAccount(3)),
    guardian: m.getParameter("guardian", m.getAccount(4)),
    protocolRecipient: m.getParameter("protocolRecipient", m.getAccount(5)),
    ownerBps: m.getParameter<number>("ownerBps", 1000),
    protocolBps: m.getParameter<number>("protocolBps", 200),
    challengePeriod: m.getParameter<number>("challengePeriod", 1),
  };
  const salt = m.getParameter("salt", "0x" + "00".repeat(31) + "01");
  const created = m.call(factory, "createSplitter", [config, salt]);
  const splitter = m.contractAt("RoyaltySplitter", m.readEventArgument(created, "SplitterCreated", "splitter"));
  return { token, factory, splitter };
});
