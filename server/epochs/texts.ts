// Output and prompt texts kept for publication in epoch documents (epochs.publishTexts), so
// anyone holding the datanet can recompute each output's attribution record. Kept in the ledger
// (one row per output, shared by every instance); texts an older version wrote as one file per
// output in <dataDir>/texts are still read from there.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Ledger, OutputText } from "../ledger/index.ts";

export type { OutputText };

const BYTES32 = /^0x[0-9a-f]{64}$/;

export class TextStore {
  constructor(
    private readonly ledger: Pick<Ledger, "putOutputText" | "getOutputTexts">,
    /** Where an older version kept one file per output (read only). */
    private readonly legacyDir: string | null = null,
  ) {}

  async save(outputId: string, text: OutputText): Promise<void> {
    const id = outputId.toLowerCase();
    if (BYTES32.test(id)) await this.ledger.putOutputText(id, text);
  }

  async load(outputId: string): Promise<OutputText | null> {
    const id = outputId.toLowerCase();
    return (await this.loadMany([id]))[id] ?? null;
  }

  /** The texts of the given outputs that are known, by lower-case output id. */
  async loadMany(outputIds: readonly string[]): Promise<Record<string, OutputText>> {
    const ids = outputIds.map((id) => id.toLowerCase()).filter((id) => BYTES32.test(id));
    const texts = await this.ledger.getOutputTexts(ids);
    for (const id of ids) {
      const legacy = texts[id] ? null : this.legacy(id);
      if (legacy) texts[id] = legacy;
    }
    return texts;
  }

  private legacy(id: string): OutputText | null {
    if (!this.legacyDir) return null;
    try {
      return JSON.parse(readFileSync(join(this.legacyDir, `${id}.json`), "utf8")) as OutputText;
    } catch {
      return null;
    }
  }
}
