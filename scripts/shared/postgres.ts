// A real, throwaway PostgreSQL: Debian's PostgreSQL binaries start a private cluster in a temp dir
// (owned by the `postgres` user when we run as root, since initdb refuses root) on a free loopback
// port, with fsync off (the data is thrown away); stop() stops and removes it. Clusters left behind
// by a killed run are cleaned up on the next start. Used by the tests' globalSetup
// (test/support/postgres.ts) and by benchmarks that run on PostgreSQL.
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);
const DIR_PREFIX = "royalty402-pg-";
const DATABASE = "royalty402_test";
export const MISSING_POSTGRES = "PostgreSQL is required for the ledger tests: apt-get install -y postgresql";

/** The newest /usr/lib/postgresql/<major>/bin that has initdb, or PG_BIN if set. */
export function findPostgresBin(): string | null {
  if (process.env.PG_BIN) return existsSync(join(process.env.PG_BIN, "initdb")) ? process.env.PG_BIN : null;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const majors = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length ? join(root, majors[0], "bin") : null;
}

interface RunAs {
  uid: number;
  gid: number;
  wrap: (cmd: string, args: string[]) => [string, string[]];
}

/** initdb and postgres refuse root: run them as the `postgres` user via runuser (or su). */
async function runAs(): Promise<RunAs> {
  if (process.getuid?.() !== 0) {
    const { uid, gid } = userInfo();
    return { uid, gid, wrap: (cmd, args) => [cmd, args] };
  }
  let ids: { uid: number; gid: number };
  try {
    const [u, g] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
    ids = { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  } catch {
    throw new Error(`${MISSING_POSTGRES} (running as root, and there is no 'postgres' user to run the server as)`);
  }
  const runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].find(existsSync);
  if (runuser) return { ...ids, wrap: (cmd, args) => [runuser, ["-u", "postgres", "--", cmd, ...args]] };
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return { ...ids, wrap: (cmd, args) => ["su", ["postgres", "-s", "/bin/sh", "-c", [cmd, ...args].map(quote).join(" ")]] };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Stops and removes clusters whose owning test run is gone (killed runs never reach teardown). */
async function removeStaleClusters(bin: string, as: RunAs): Promise<void> {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    try {
      const ownerFile = join(dir, "owner.pid");
      if (existsSync(ownerFile)) {
        if (alive(Number(readFileSync(ownerFile, "utf8")))) continue;
      } else if (Date.now() - statSync(dir).mtimeMs < 60_000) {
        continue; // another run is just creating it
      }
      if (existsSync(join(dir, "data", "postmaster.pid"))) {
        const [cmd, args] = as.wrap(join(bin, "pg_ctl"), ["-D", join(dir, "data"), "-m", "immediate", "-w", "-t", "10", "stop"]);
        await run(cmd, args).catch(() => undefined);
      }
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Not ours to judge (another user's, or vanished meanwhile): leave it.
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface TestCluster {
  url: string;
  stop: () => Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const bin = findPostgresBin();
  if (!bin) throw new Error(MISSING_POSTGRES);
  const as = await runAs();
  await removeStaleClusters(bin, as);

  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX)); // short path: the unix socket lives here
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  chownSync(dir, as.uid, as.gid);
  const data = join(dir, "data");
  const exec = (tool: string, args: string[]) => {
    const [cmd, argv] = as.wrap(join(bin, tool), args);
    return run(cmd, argv, { cwd: dir });
  };
  const stop = async () => {
    await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "10", "stop"]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await exec("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
    let port = 0;
    let lastError: unknown;
    for (let attempt = 0; attempt < 5 && !port; attempt++) {
      const candidate = await freePort();
      const settings = [
        `-p ${candidate}`,
        `-k ${dir}`,
        "-c listen_addresses=127.0.0.1",
        // Throwaway data: durability off makes the cluster and the tests fast.
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200",
        "-c shared_buffers=32MB",
      ].join(" ");
      try {
        await exec("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", settings, "-w", "-t", "30", "start"]);
        port = candidate;
      } catch (e) {
        lastError = e; // most likely someone took the port between probe and bind: try another
      }
    }
    if (!port) {
      const log = existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8").slice(-2000) : "";
      throw new Error(`could not start the test PostgreSQL: ${String(lastError)}\n${log}`);
    }
    const admin = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
    return { url: `postgresql://postgres@127.0.0.1:${port}/${DATABASE}`, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
