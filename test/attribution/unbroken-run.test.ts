// longestUnbrokenRun measures what makes the tokenizer slow (one long pre-token), in one pass.
import { describe, expect, it } from "vitest";
import { longestUnbrokenRun } from "../../server/attribution/tokenizer.ts";

describe("longestUnbrokenRun", () => {
  it("counts the longest run of non-whitespace or of whitespace", () => {
    expect(longestUnbrokenRun("")).toBe(0);
    expect(longestUnbrokenRun("the cat sat")).toBe(3);
    expect(longestUnbrokenRun(`a ${"z".repeat(5000)} b`)).toBe(5000);
    expect(longestUnbrokenRun(`a${"\u00a0".repeat(7)}\n\tb`)).toBe(9);
    const url = "https://example.com/some/path?query=1";
    expect(longestUnbrokenRun(`${url} ok`)).toBe(url.length);
  });
});
