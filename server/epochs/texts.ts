// Output and prompt texts kept for publication in epoch documents (epochs.publishTexts), so
// anyone holding the datanet can recompute each output's attribution record. One small file
// per output in <dataDir>/texts; only outputs served by this instance are known here.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface OutputText {
  output: string;
  prompt?: string | null;
}

const BYTES32 = /^0x[0-9a-f]{64}$/;

export class TextStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  save(outputId: string, text: OutputText): void {
    const id = outputId.toLowerCase();
    if (!BYTES32.test(id)) return;
    const file = join(this.dir, `${id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(text));
    renameSync(`${file}.tmp`, file);
  }

  load(outputId: string): OutputText | null {
    const id = outputId.toLowerCase();
    if (!BYTES32.test(id)) return null;
    try {
      return JSON.parse(readFileSync(join(this.dir, `${id}.json`), "utf8")) as OutputText;
    } catch {
      return null;
    }
  }

  /** The texts of the given outputs that are known here, by lower-case output id. */
  async loadMany(outputIds: readonly string[]): Promise<Record<string, OutputText>> {
    const texts: Record<string, OutputText> = {};
    for (const id of outputIds) {
      const t = this.load(id);
      if (t) texts[id.toLowerCase()] = t;
    }
    return texts;
  }
}
