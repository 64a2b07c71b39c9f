import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// `pnpm --filter @wisp/sdk serve`: the repo root over HTTP (demo/ and packages/sdk/dist), with
// ../shared as the public folder so the shared models answer at /models/… (Range requests included).
const repo = fileURLToPath(new URL("../..", import.meta.url));
const shared = fileURLToPath(new URL("../../../shared", import.meta.url));
export default defineConfig({
  root: repo,
  publicDir: shared,
  // The demo pages load the built bundles; nothing needs pre-bundling.
  optimizeDeps: { noDiscovery: true, entries: [] },
  server: { port: 5180, fs: { allow: [repo, shared] } },
});
