// The Ignition modules deploy from parameters alone: the local stack, and the public-chain
// ModelSplitter module pointed at an existing token (as it is pointed at USDC on Base).
import { describe, it, expect } from "vitest";
import { network } from "hardhat";
import { ethers as E } from "ethers";
import LocalStackModule from "../../ignition/modules/LocalStack.ts";
import ModelSplitterModule from "../../ignition/modules/ModelSplitter.ts";

describe("ignition modules", () => {
  it("LocalStack deploys TestUSDC, the factory and a splitter configured with the token", async () => {
    const { ignition, ethers } = await network.connect();
    const { token, factory, splitter } = await ignition.deploy(LocalStackModule, {
      parameters: { LocalStack: { ownerBps: 700, protocolBps: 100 } },
    });
    const signers = await ethers.getSigners();
    const config = await splitter.config();
    expect(config.token).toBe(await token.getAddress());
    expect(config.owner).toBe(signers[1].address);
    expect(config.oracle).toBe(signers[3].address);
    expect(config.ownerBps).toBe(700n);
    expect(await token.decimals()).toBe(6n);
    expect(await factory.predictSplitter(config.toObject() as never, E.zeroPadValue("0x01", 32))).toBe(await splitter.getAddress());
  });

  it("ModelSplitter deploys a splitter for an existing token from a parameters file's values", async () => {
    const { ignition, ethers } = await network.connect();
    const [, owner, relayer, guardian] = await ethers.getSigners();
    const usdc = await ethers.deployContract("TestUSDC"); // stands in for Base's USDC address
    const salt = E.id("model:brown-infinigram");
    const { splitter } = await ignition.deploy(ModelSplitterModule, {
      parameters: {
        ModelSplitter: {
          token: await usdc.getAddress(),
          owner: owner.address,
          facilitator: relayer.address,
          guardian: guardian.address,
          challengePeriod: 600,
          salt,
        },
      },
    });
    const config = await splitter.config();
    expect(config.token).toBe(await usdc.getAddress());
    expect(config.owner).toBe(owner.address);
    expect(config.facilitator).toBe(relayer.address);
    expect(config.challengePeriod).toBe(600n);
    expect(config.guardian).toBe(guardian.address);
    expect(await splitter.isFacilitator(relayer.address)).toBe(true);
  });
});
