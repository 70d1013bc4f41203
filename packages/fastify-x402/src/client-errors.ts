// Requests node's HTTP parser refuses before fastify sees them get a JSON body with a reason
// code like every other refusal: most of all headers over the server's limit (node: 16 KiB),
// which a payment header with a long contract signature can reach. The raw packet is never
// logged: it may hold a payment. Use as fastify's `clientErrorHandler` option.
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { Reason } from "./reasons.ts";

export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed || !socket.writable) return;
  const [status, code, message] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, Reason.headerTooLarge, "the request headers exceed the size limit"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "request_timeout", "the request did not arrive in time"]
        : [400, "bad_request", "the request is not valid HTTP"];
  this.log.debug({ code: error.code, status }, "client error");
  const body = JSON.stringify({ error: code, message });
  socket.end(
    `HTTP/1.1 ${status} ${
      STATUS_CODES[status]
    }\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
