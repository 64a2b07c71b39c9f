// Starting the worker when the SDK is consumed from source by a bundler (Vite, webpack 5, esbuild with
// the plugin): the `new Worker(new URL(…, import.meta.url))` pattern lets the bundler build the worker
// itself. The dist bundles replace this module with spawn-dist.ts (see build.mjs).
import { startWorker } from "./start-worker.ts";

export function spawnWorker(url?: string | URL): Worker {
  if (url !== undefined) return startWorker(new URL(url, globalThis.location?.href));
  return new Worker(new URL("../worker.ts", import.meta.url), { type: "module", name: "wisp" });
}
