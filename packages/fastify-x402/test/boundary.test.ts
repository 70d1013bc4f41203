// The package stands alone: every import of its sources and tests is relative inside the
// package, a node builtin, or a package it declares in package.json.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
const declared = new Set([
  manifest.name as unknown as string,
  ...["dependencies", "devDependencies", "peerDependencies"].flatMap((k) => Object.keys(manifest[k] ?? {})),
]);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "node_modules" ? [] : sources(path);
    return /\.(ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s+["']([^"']+)["']/gm;

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

it("imports nothing from outside the package but declared dependencies", () => {
  const escapes: string[] = [];
  let seen = 0;
  const files = sources(root);
  expect(files.length).toBeGreaterThan(10);
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      const where = `${relative(root, file)}: ${specifier}`;
      seen++;
      if (specifier.startsWith(".")) {
        if (relative(root, resolve(dirname(file), specifier)).startsWith("..")) escapes.push(where);
      } else if (specifier.startsWith("node:") || builtinModules.includes(specifier)) continue;
      else if (!declared.has(packageName(specifier))) escapes.push(where);
    }
  }
  expect(seen).toBeGreaterThan(50);
  expect(escapes).toEqual([]);
});

it("the check catches an import escaping the package", () => {
  const line = 'import { Ledger } from "../../../server/ledger/index.ts";';
  const specifier = [...line.matchAll(IMPORT)][0][1];
  expect(relative(root, resolve(join(root, "src"), specifier)).startsWith("..")).toBe(true);
});
