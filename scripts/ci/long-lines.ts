// Fails when a tracked source file has a line over 140 characters. Biome's formatter wraps code at that
// width but leaves long strings, template literals and comments as they are, so this catches those.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const MAX_CHARACTERS = 140;
const SOURCE_PATTERNS = ["*.ts", "*.js", "*.mjs", "*.sol"];

function trackedSources(): string[] {
  const listing = execFileSync("git", ["ls-files", "-z", "--", ...SOURCE_PATTERNS], { encoding: "utf8" });
  return listing.split("\0").filter(Boolean);
}

function longLines(file: string): string[] {
  const lines = readFileSync(file, "utf8").split("\n");
  // Count code points, not UTF-16 units, so "…" or "✓" counts once.
  return lines.flatMap((line, i) => {
    const length = [...line.replace(/\r$/, "")].length;
    return length > MAX_CHARACTERS ? [`${file}:${i + 1}: ${length} characters`] : [];
  });
}

const offending = trackedSources().flatMap(longLines);
if (offending.length > 0) {
  console.error(`${offending.length} line(s) over ${MAX_CHARACTERS} characters (split strings with +, rewrap comments):`);
  for (const line of offending) console.error(`  ${line}`);
  process.exit(1);
}
