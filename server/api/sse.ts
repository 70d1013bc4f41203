// Server-sent events in OpenAI's streaming format: `data: <json>\n\n` per chunk, then `data: [DONE]`.

/** Word-sized pieces of a finished text (whitespace kept with the word that follows it). */
export function splitForStream(text: string): string[] {
  const pieces = text.match(/\s*\S+|\s+$/g);
  return pieces ?? (text.length > 0 ? [text] : []);
}

export function* sseEvents(events: Iterable<object>): Generator<string> {
  for (const e of events) yield `data: ${JSON.stringify(e)}\n\n`;
  yield "data: [DONE]\n\n";
}
