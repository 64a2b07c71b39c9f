// A real node:http file server for the weight store's tests (vitest and Playwright): Range and
// If-Range, strong ETags, CORS (Range/If-Range allowed; ETag, Content-Range exposed), a request log,
// and faults switched on by the test: drop the connection in the middle of a body, corrupt a byte,
// answer an HTTP status. Also serves a Hugging Face-like tree listing for hfRemoteFiles.

import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ServedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  /** [start, end] inclusive when a Range was asked. */
  range?: [number, number];
  status: number;
  fault?: "drop" | "corrupt" | "status";
}

export interface Fault {
  /** Which requests (GETs of a file) the fault hits. */
  when: (r: { path: string; start: number; end: number; count: number }) => boolean;
  kind: "drop" | "corrupt" | "status";
  status?: number;
  /** How many times it fires (default: every time `when` matches). */
  times?: number;
}

interface Served {
  body: Uint8Array;
  etag: string | null;
}

export const sha256Hex = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes (a small LCG), different per seed. */
export function bytesOf(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export class StoreTestServer {
  readonly files = new Map<string, Served>();
  readonly requests: ServedRequest[] = [];
  faults: Fault[] = [];
  /** Sent as the X-Linked-ETag of a file (Hugging Face's LFS sha256), by path. */
  readonly linked = new Map<string, string>();
  /** Served at /api/models/<id>/tree/<rev> (any query). */
  readonly trees = new Map<string, unknown>();
  private server: Server | undefined;
  private gets = new Map<string, number>();
  url = "";

  setFile(path: string, body: Uint8Array, etag: string | null = `"${sha256Hex(body).slice(0, 16)}"`): void {
    this.files.set(path, { body, etag });
  }

  /** Requests for paths under `prefix` (OPTIONS preflights included when `withPreflight`). */
  count(prefix = "/", withPreflight = false): number {
    return this.requests.filter((r) => r.path.startsWith(prefix) && (withPreflight || r.method !== "OPTIONS"))
      .length;
  }

  reset(): void {
    this.requests.length = 0;
    this.faults = [];
    this.gets.clear();
  }

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    const { port: p } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${p}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const log: ServedRequest = { method: req.method ?? "GET", path, status: 0 };
    this.requests.push(log);
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Expose-Headers", "ETag, Content-Range, Content-Length, X-Linked-Etag");
    if (req.method === "OPTIONS") {
      res.setHeader("Access-Control-Allow-Methods", "GET, HEAD");
      res.setHeader("Access-Control-Allow-Headers", "Range, If-Range");
      res.setHeader("Access-Control-Max-Age", "0");
      log.status = 204;
      res.writeHead(204).end();
      return;
    }
    const tree = path.match(/^\/api\/models\/(.+)\/tree\/[^/]+$/);
    if (tree && this.trees.has(tree[1]!)) {
      log.status = 200;
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify(this.trees.get(tree[1]!)));
      return;
    }
    const file = this.files.get(path);
    if (!file) {
      log.status = 404;
      res.writeHead(404).end("not found");
      return;
    }
    const size = file.body.length;
    const headers: Record<string, string> = {
      "Accept-Ranges": "bytes",
      "Content-Type": "application/octet-stream",
    };
    if (file.etag) headers["ETag"] = file.etag;
    const linked = this.linked.get(path);
    if (linked) headers["X-Linked-Etag"] = `"${linked}"`;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
    const ifRange = req.headers["if-range"];
    if (range && (ifRange === undefined || ifRange === file.etag)) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        log.status = 416;
        res.writeHead(416, { ...headers, "Content-Range": `bytes */${size}` }).end();
        return;
      }
      status = 206;
      headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
      log.range = [start, end];
    }
    const n = (this.gets.get(path) ?? 0) + 1;
    this.gets.set(path, n);
    let body = file.body.subarray(start, end + 1);
    headers["Content-Length"] = String(body.length);
    log.status = status;
    const fault = this.faults.find(
      (f) => (f.times ?? 1) > 0 && f.when({ path, start, end: end + 1, count: n }),
    );
    if (fault) {
      if (fault.times !== undefined) fault.times--;
      log.fault = fault.kind;
      if (fault.kind === "status") {
        log.status = fault.status ?? 503;
        res.writeHead(log.status).end("injected failure");
        return;
      }
      if (fault.kind === "drop") {
        // Headers and half the body, then the connection is cut.
        res.writeHead(status, headers);
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
        return;
      }
      body = body.slice();
      body[Math.floor(body.length / 2)]! ^= 0xff;
    }
    res.writeHead(status, headers);
    res.end(req.method === "HEAD" ? undefined : body);
  }
}
