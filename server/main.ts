// Process entry of the model host:
//   npx tsx server/main.ts --config royalty402.json        (or: server/main.ts serve --config …)
// Secrets come from the environment (see server/config/validate.ts): ROYALTY402_RELAYER_KEY,
// ROYALTY402_ORACLE_KEY, ROYALTY402_ADMIN_TOKEN, DATABASE_URL. Exit codes: 0 after a clean
// shutdown (SIGINT/SIGTERM), 2 for a configuration error (one line naming the field), 1 otherwise.
import { parseArgs } from "node:util";
import { createApp, loadServerConfig } from "./app.ts";
import { isConfigError } from "./config/index.ts";

const USAGE = "usage: npx tsx server/main.ts [serve] --config <file.json>";

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    console.log(USAGE);
    return 0;
  }
  const command = args.positionals[0] ?? "serve";
  if (command !== "serve" || args.positionals.length > 1) {
    console.error(`unknown command ${JSON.stringify(args.positionals.join(" "))}\n${USAGE}`);
    return 2;
  }
  const file = args.values.config ?? process.env.ROYALTY402_CONFIG;
  if (!file) {
    console.error(`--config is required\n${USAGE}`);
    return 2;
  }

  const { config, secrets } = loadServerConfig(file);
  const server = await createApp({ config, secrets });
  const inProcess = server.localChain;
  const url = await server.listen();
  server.app.log.info({ url, models: server.context.models.list().map((m) => ({ id: m.id, payTo: m.splitter })), inProcessChain: inProcess !== null }, "royalty402 model host listening");
  if (inProcess) server.app.log.warn({ token: inProcess.token, factory: inProcess.factory }, "the chain runs inside this process: it is gone when the process exits");

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  server.app.log.info("shutting down");
  await server.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    if (isConfigError(error)) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(`royalty402: ${(error as Error)?.stack ?? error}`);
    process.exit(1);
  },
);
