// Output and prompt texts kept for publication in epoch documents (epochs.publishTexts): one row
// per output, written once.
import * as norm from "../normalize.ts";
import type { OutputText } from "../types.ts";
import type { Db } from "./db.ts";

export async function putOutputText(db: Db, outputId: string, text: OutputText): Promise<void> {
  await db.exec.write(
    (tx) =>
      tx.query("INSERT INTO output_texts (output_id, output, prompt) VALUES ($outputId, $output, $prompt) ON CONFLICT DO NOTHING", {
        outputId: norm.id("outputId", outputId),
        output: String(text.output),
        prompt: text.prompt == null ? null : String(text.prompt),
      }),
    false,
  );
}

export async function getOutputTexts(db: Db, outputIds: string[]): Promise<Record<string, OutputText>> {
  const ids = norm.uniqueIds("outputIds", outputIds);
  if (ids.length === 0) return {};
  const { rows } = await db.exec.query(`SELECT output_id, output, prompt FROM output_texts WHERE ${db.d.inList("output_id", "$ids")}`, {
    ids: db.d.list(ids) as string,
  });
  return Object.fromEntries(
    rows.map((r) => [
      String(r.output_id),
      r.prompt == null ? { output: String(r.output) } : { output: String(r.output), prompt: String(r.prompt) },
    ]),
  );
}
