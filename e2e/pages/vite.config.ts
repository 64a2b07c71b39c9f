import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Serves the e2e pages; the repo and ../shared (the real model files) are readable under /@fs/.
const repo = fileURLToPath(new URL("../..", import.meta.url));
const shared = fileURLToPath(new URL("../../../shared", import.meta.url));
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  server: { fs: { allow: [repo, shared] } },
  logLevel: "warn",
});
