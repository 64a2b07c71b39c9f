import { createReadStream, realpathSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

// The chat app. The app itself is static (`vite build` → dist/, any static host). For local and
// offline use the dev and preview servers also answer /models/… from a models folder on disk
// (default: the workspace's ../shared/models, so stories260K is /models/stories260K/hf/; override
// with WISP_MODELS_DIR=/path/to/models), with Range requests, as a static host would.
const here = fileURLToPath(new URL(".", import.meta.url));
const repo = fileURLToPath(new URL("../..", import.meta.url));
const shared = fileURLToPath(new URL("../../../shared", import.meta.url));
const modelsDir = process.env["WISP_MODELS_DIR"] ?? join(shared, "models");

const TYPES: Record<string, string> = {
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
};

function serveModels(root: string) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (!url.pathname.startsWith("/models/") || (req.method !== "GET" && req.method !== "HEAD"))
      return next();
    let file: string;
    let size: number;
    try {
      const base = realpathSync(root);
      file = realpathSync(join(base, decodeURIComponent(url.pathname.slice("/models/".length))));
      if (!file.startsWith(base + sep)) throw new Error("outside the models folder");
      const stat = statSync(file);
      if (!stat.isFile()) throw new Error("not a file");
      size = stat.size;
    } catch {
      res.statusCode = 404;
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.end("Not found\n");
      return;
    }
    res.setHeader("Accept-Ranges", "bytes");
    res.setHeader("Content-Type", TYPES[extname(file).toLowerCase()] ?? "application/octet-stream");
    res.setHeader("Cache-Control", "no-cache");
    let start = 0;
    let end = size - 1;
    const range = req.headers.range;
    const match = range ? /^bytes=(\d*)-(\d*)$/.exec(range.trim()) : null;
    if (range && match && (match[1] || match[2])) {
      if (match[1]) {
        start = Number(match[1]);
        end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
      } else {
        start = Math.max(0, size - Number(match[2]));
      }
      if (start > end || start >= size) {
        res.statusCode = 416;
        res.setHeader("Content-Range", `bytes */${size}`);
        res.end();
        return;
      }
      res.statusCode = 206;
      res.setHeader("Content-Range", `bytes ${start}-${end}/${size}`);
    } else {
      res.statusCode = 200;
    }
    res.setHeader("Content-Length", String(end - start + 1));
    if (req.method === "HEAD" || end < start) {
      res.end();
      return;
    }
    createReadStream(file, { start, end }).pipe(res);
  };
}

function localModels(): Plugin {
  return {
    name: "wisp-local-models",
    configureServer(server) {
      server.middlewares.use(serveModels(modelsDir));
      server.httpServer?.once("listening", () => {
        setTimeout(() => {
          const url = server.resolvedUrls?.local[0] ?? "http://127.0.0.1:5190/";
          server.config.logger.info(
            `  Models folder: ${modelsDir} → ${url}models/\n` +
              `  Open ${url}?model=stories260K-local to load stories260K (works offline).`,
          );
        }, 50);
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use(serveModels(modelsDir));
    },
  };
}

export default defineConfig({
  root: here,
  // Relative asset URLs: the build works from any folder of a static host.
  base: "./",
  plugins: [localModels()],
  server: {
    port: 5190,
    host: "127.0.0.1",
    // The SDK, runtime and kernels are workspace sources; the shared models are read by the route above.
    fs: { allow: [repo, shared] },
  },
  preview: { port: 5190, host: "127.0.0.1" },
  worker: { format: "es" },
  optimizeDeps: {
    // Crawl the SDK's worker too (Vite does not follow `new Worker(new URL(…))`), so every dependency
    // is pre-bundled at start: one discovered later would make Vite reload the page mid-chat.
    entries: ["index.html", fileURLToPath(new URL("../../packages/sdk/src/worker.ts", import.meta.url))],
    include: ["marked", "dompurify", "highlight.js/lib/common", "idb-keyval"],
  },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
