// The hand-written ABI in server/chain/abi.ts must describe the compiled contracts exactly:
// every function, event and error it names exists in the artifact with the same selector.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Interface, type Fragment } from "ethers";
import { FACTORY_ABI, SPLITTER_ABI, TOKEN_ABI } from "../../server/chain/abi.ts";

const compiled = (file: string, name: string) =>
  new Interface(JSON.parse(readFileSync(new URL(`../../artifacts/contracts/${file}/${name}.json`, import.meta.url), "utf8")).abi);

function ids(iface: Interface): Set<string> {
  const out = new Set<string>();
  iface.forEachFunction((f) => out.add(`function ${f.selector}`));
  iface.forEachEvent((e) => out.add(`event ${e.topicHash}`));
  iface.forEachError((e) => out.add(`error ${e.selector}`));
  return out;
}

describe("server/chain/abi.ts", () => {
  for (const [name, abi, artifact] of [
    ["RoyaltySplitter", SPLITTER_ABI, compiled("RoyaltySplitter.sol", "RoyaltySplitter")],
    ["SplitterFactory", FACTORY_ABI, compiled("SplitterFactory.sol", "SplitterFactory")],
    ["TestUSDC", TOKEN_ABI, compiled("TestUSDC.sol", "TestUSDC")],
  ] as const) {
    it(`matches the compiled ${name}`, () => {
      const declared = ids(new Interface(abi as readonly (string | Fragment)[]));
      const missing = [...declared].filter((id) => !ids(artifact).has(id));
      expect(declared.size).toBe(abi.length);
      expect(missing).toEqual([]);
    });
  }
});
