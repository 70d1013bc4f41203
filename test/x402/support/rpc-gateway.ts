// A real HTTP JSON-RPC endpoint in front of the in-process Hardhat chain, that a test can take
// down and bring back: the chain/RPC outage of SPEC section 7, and an RPC URL for HTTP clients.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

type Eip1193 = { request(args: { method: string; params?: unknown[] }): Promise<unknown> };

export class RpcGateway {
  private server: Server | null = null;
  private port = 0;
  private readonly sockets = new Set<import("node:net").Socket>();

  constructor(private readonly provider: Eip1193) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async answer(call: { id?: unknown; method: string; params?: unknown[] }) {
    try {
      const result = await this.provider.request({ method: call.method, params: call.params ?? [] });
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

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        const reply = Array.isArray(body) ? await Promise.all(body.map((c) => this.answer(c))) : await this.answer(body);
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify(reply, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
      });
    });
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Takes the endpoint down: open connections are cut, new ones refused. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}
