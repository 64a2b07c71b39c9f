import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The model bench as a page (`pnpm --filter @wisp/runtime bench:page`, http://127.0.0.1:5187/):
// the same measurement as the Node bench (../model-run.ts) on the browser's own WebGPU.
const repo = fileURLToPath(new URL("../../../..", import.meta.url));
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  server: { fs: { allow: [repo] } },
  logLevel: "warn",
});
