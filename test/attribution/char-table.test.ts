import { describe, expect, it } from "vitest";
import { CharTable, hashChars } from "../../server/attribution/char-table.ts";

describe("char table", () => {
  it("finds ranges of characters by content, numbered in order, across its growth", () => {
    const table = new CharTable(8);
    const text = Array.from({ length: 20_000 }, (_, i) => `w${i}`).join(" ");
    const words = [...text.matchAll(/\S+/g)].map((m) => [m.index, m.index + m[0].length]);
    words.forEach(([s, e], i) => {
      expect(table.find(text, s, e, hashChars(text, s, e))).toBe(-1);
      expect(table.add(text, s, e, hashChars(text, s, e))).toBe(i);
    });
    // the same words found again in another string, at other offsets
    const again = `x ${text}`;
    words.forEach(([s, e], i) => expect(table.find(again, s + 2, e + 2, hashChars(again, s + 2, e + 2))).toBe(i));
    expect(table.size).toBe(20_000);
    // a key longer than the table takes is refused, and so not found
    expect(table.add("longer than eight", 0, 17, hashChars("longer than eight", 0, 17))).toBe(-1);
    expect(table.find("longer than eight", 0, 17, hashChars("longer than eight", 0, 17))).toBe(-1);
    // same hash, other characters: not a match
    expect(table.find("w1x", 0, 3, hashChars(text, 0, 2))).toBe(-1);
  });
});
