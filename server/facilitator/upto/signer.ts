// A read-only FacilitatorEvmSigner for the reference upto verify, bound to one splitter: the splitter
// is the facilitator the payer names in the witness (getAddresses), and the reference's settlement
// simulation of the proxy runs as an eth_call from the splitter (the only caller the proxy accepts).
// Writing is not part of verify: settlement goes through the splitter (settle.ts).
import type { Provider } from "ethers";
import { decodeFunctionResult, encodeFunctionData, verifyTypedData, type Abi, type Address, type Hex } from "viem";
import type { FacilitatorEvmSigner } from "@x402/evm";
import { onChain, rawSend } from "../chain.ts";

async function ethCall(provider: Provider, from: Address, to: Address, data: Hex): Promise<Hex> {
  const send = rawSend(provider);
  return onChain(
    "eth_call",
    async () => (send ? await send("eth_call", [{ from, to, data }, "latest"]) : await provider.call({ from, to, data })) as Hex,
  );
}

function readOnly(): never {
  throw new Error("the upto verify signer does not send transactions");
}

/** A contract read (eth_call at "latest") with `from` as the caller. */
export function readContractAs(provider: Provider, from: Address): FacilitatorEvmSigner["readContract"] {
  return async ({ address, abi, functionName, args }) => {
    const data = encodeFunctionData({ abi: abi as Abi, functionName, args: args as unknown[] });
    const result = await ethCall(provider, from, address, data);
    return decodeFunctionResult({ abi: abi as Abi, functionName, data: result });
  };
}

export function splitterBoundSigner(provider: Provider, splitter: Address): FacilitatorEvmSigner {
  return {
    getAddresses: () => [splitter],
    readContract: readContractAs(provider, splitter),
    verifyTypedData: (args) => verifyTypedData(args as never),
    getCode: async ({ address }) => (await onChain("getCode", () => provider.getCode(address))) as Hex,
    writeContract: readOnly,
    sendTransaction: readOnly,
    waitForTransactionReceipt: readOnly,
  };
}
