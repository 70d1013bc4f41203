// One HTTP listener for the model host and its dashboard. createApp returns a booted fastify
// instance (no routes can be added to it), so the dashboard is its own small fastify instance
// and this listener hands each request to one of the two through fastify's `routing` handler.
// The listener is opened first, so the server's public URL (record URLs, epoch URIs) is known
// when the app is built.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import type { RoyaltyServer } from "../app.ts";
import { dashboardRoutes } from "./routes.ts";

export interface HostedServer {
  /** Base URL (the dashboard is at `${url}/`). */
  url: string;
  server: RoyaltyServer;
  http: Server;
  close(): Promise<void>;
}

export class ListenError extends Error {}

/** Paths the dashboard answers; everything else goes to the model host. */
export function isDashboardPath(url: string | undefined): boolean {
  const path = (url ?? "/").split("?")[0];
  return path === "/" || path === "/index.html" || path.startsWith("/dashboard/") || path.startsWith("/outputs/");
}

async function listen(http: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      http.off("listening", onListening);
      if (e.code === "EADDRINUSE") reject(new ListenError(`port ${port} on ${host} is already in use (choose another with --port, or --port 0 for any free port)`));
      else if (e.code === "EACCES") reject(new ListenError(`not allowed to listen on ${host}:${port}`));
      else reject(new ListenError(`cannot listen on ${host}:${port}: ${e.message}`));
    };
    const onListening = () => {
      http.off("error", onError);
      resolve();
    };
    http.once("error", onError);
    http.once("listening", onListening);
    http.listen(port, host);
  });
  const address = http.address() as AddressInfo;
  const shownHost = address.address === "0.0.0.0" || address.address === "::" ? "127.0.0.1" : address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${shownHost}:${address.port}`;
}

/**
 * Listens on host:port, then builds the server with `build(url)` (which should use `url` as the
 * public URL unless one is configured) and serves it with the dashboard.
 */
export async function hostWithDashboard(options: { host: string; port: number }, build: (url: string) => Promise<RoyaltyServer>): Promise<HostedServer> {
  let target: { server: RoyaltyServer; dashboard: FastifyInstance } | null = null;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!target) {
      res.writeHead(503, { "content-type": "application/json", "retry-after": "1" }).end(JSON.stringify({ error: "starting", message: "the server is starting" }));
      return;
    }
    (isDashboardPath(req.url) ? target.dashboard : target.server.app).routing(req, res);
  };
  const http = createServer(handler);
  const url = await listen(http, options.host, options.port);
  let server: RoyaltyServer | null = null;
  let dashboard: FastifyInstance | null = null;
  const close = async () => {
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      http.closeAllConnections();
    });
    await dashboard?.close();
    await server?.close();
  };
  try {
    server = await build(url);
    const app = server.app;
    dashboard = Fastify({ logger: false });
    await dashboard.register(dashboardRoutes, { ctx: server.context, inject: (path) => app.inject({ method: "GET", url: path }) });
    await dashboard.ready();
  } catch (e) {
    await close();
    throw e;
  }
  target = { server, dashboard };
  return { url: server.config.server.publicUrl ?? url, server, http, close };
}
