// Starting the worker from the dist bundles: wisp-worker.js sits beside wisp.js / wisp.iife.js, found
// relative to the script that loaded the SDK, so the bundles work from any folder or CDN path.
import { startWorker } from "./start-worker.ts";

// Read while the script runs: document.currentScript is the <script src=".../wisp.iife.js"> only then
// (it is null for module scripts, where import.meta.url is the bundle's own URL).
// Guarded so that importing the bundle where there is no DOM (SSR, a worker) does not throw.
const current = typeof document !== "undefined" ? (document.currentScript as HTMLScriptElement | null) : null;
const SCRIPT_URL = current?.src || import.meta.url;

export function spawnWorker(url?: string | URL): Worker {
  return startWorker(new URL(url ?? "wisp-worker.js", SCRIPT_URL));
}
