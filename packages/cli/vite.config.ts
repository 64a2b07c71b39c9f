import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// One ES module for Node; Dawn (webgpu) stays external. The same bundle runs on the lent GPU machine.
const here = fileURLToPath(new URL(".", import.meta.url));
export default defineConfig({
  build: {
    ssr: `${here}src/main.ts`,
    outDir: `${here}dist`,
    target: "node20",
    minify: false,
    rollupOptions: { external: ["webgpu"], output: { format: "es", entryFileNames: "wisp.mjs" } },
  },
  ssr: { noExternal: true, external: ["webgpu"] },
});
