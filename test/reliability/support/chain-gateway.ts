// A JSON-RPC endpoint in front of a chain (an in-process Hardhat EIP-1193 provider, or another
// node's URL) that a test can break in the ways RPC outages really happen:
//   cut()                 the endpoint is gone: connections refused, open ones reset
//   restore()             back on the same port
//   blackhole()           connections accepted, requests never answered (a hung node or balancer)
//   loseNextSendAnswer()  the next eth_sendRawTransaction reaches the chain, but its answer is
//                         lost (the connection drops): the sender cannot know it was broadcast
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

type Eip1193 = { request(args: { method: string; params?: unknown[] }): Promise<unknown> };
type Call = { id?: unknown; method: string; params?: unknown[] };

export class ChainGateway {
  private server: Server | null = null;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private holding = false;
  private readonly held = new Set<ServerResponse>();
  private loseNextSend = false;
  private cutAfterLoss = false;
  /** Calls answered, by method. */
  readonly calls = new Map<string, number>();
  /** Raw transactions that reached the chain but whose answer was dropped. */
  readonly lostAnswers: string[] = [];

  constructor(private readonly upstream: Eip1193 | string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get up(): boolean {
    return this.server !== null;
  }

  private async forward(call: Call): Promise<unknown> {
    if (typeof this.upstream !== "string") {
      try {
        const result = await this.upstream.request({ method: call.method, params: call.params ?? [] });
        return { jsonrpc: "2.0", id: call.id ?? null, result };
      } catch (e) {
        const err = e as { code?: number; message?: string; data?: unknown };
        return {
          jsonrpc: "2.0",
          id: call.id ?? null,
          error: {
            code: typeof err.code === "number" ? err.code : -32603,
            message: err.message ?? "error",
            ...(err.data !== undefined ? { data: err.data } : {}),
          },
        };
      }
    }
    const res = await fetch(this.upstream, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", ...call }),
    });
    return res.json();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      if (this.holding) {
        this.held.add(res); // never answered while the blackhole lasts
        res.on("close", () => this.held.delete(res));
        return;
      }
      let body: Call | Call[];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const calls = Array.isArray(body) ? body : [body];
      const dropAnswer = this.loseNextSend && calls.some((c) => c.method === "eth_sendRawTransaction");
      if (dropAnswer) this.loseNextSend = false;
      const answers = await Promise.all(calls.map((c) => this.forward(c)));
      for (const c of calls) this.calls.set(c.method, (this.calls.get(c.method) ?? 0) + 1);
      if (dropAnswer) {
        for (const c of calls) if (c.method === "eth_sendRawTransaction") this.lostAnswers.push(String(c.params?.[0]));
        req.socket.destroy(); // the chain has it; the caller hears nothing
        if (this.cutAfterLoss) void this.cut();
        return;
      }
      const json = JSON.stringify(Array.isArray(body) ? answers : answers[0], (_k, v) =>
        typeof v === "bigint" ? `0x${v.toString(16)}` : v,
      );
      res.writeHead(200, { "content-type": "application/json" }).end(json);
    });
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** The endpoint goes away: open connections are reset, new ones refused. */
  async cut(): Promise<void> {
    this.holding = false;
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }

  /** Back on the same port, answering normally. */
  async restore(): Promise<void> {
    this.holding = false;
    if (!this.server) await this.start();
  }

  /** Requests are accepted and never answered, until restore() (or cut()). */
  blackhole(): void {
    this.holding = true;
  }

  /** Ends a blackhole: held requests are dropped (their connections reset), new ones answered. */
  release(): void {
    this.holding = false;
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
  }

  /** The next eth_sendRawTransaction reaches the chain but its answer is lost (and with `thenCut`, the endpoint goes away at once). */
  loseNextSendAnswer(options: { thenCut?: boolean } = {}): void {
    this.loseNextSend = true;
    this.cutAfterLoss = options.thenCut ?? false;
  }

  async close(): Promise<void> {
    this.release();
    await this.cut();
  }
}
