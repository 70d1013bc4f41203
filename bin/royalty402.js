#!/usr/bin/env node
// royalty402 command line. The sources are TypeScript, run through tsx; Node 22 is required
// (npm run / npx put the project's Node 22 first on PATH).
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    `royalty402: Node 22 or newer is required (this is ${process.version}); ` +
      `run it as \`npx royalty402\` or through \`npm run\`, ` +
      `which use the project's Node 22.\n`,
  );
  process.exit(1);
}
const { register } = await import("tsx/esm/api");
register();
const { main } = await import("../server/cli/main.ts");
process.exit(await main(process.argv.slice(2)));
