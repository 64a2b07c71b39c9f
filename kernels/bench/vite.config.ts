import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// One self-contained ES module for Node with only `webgpu` (Dawn) left external, so it runs on the
// lent GPU machine, which has Node (from .device) but no npm packages.
const here = fileURLToPath(new URL(".", import.meta.url));
export default defineConfig({
  build: {
    ssr: true,
    outDir: `${here}../dist`,
    emptyOutDir: false,
    target: "node20",
    minify: false,
    rollupOptions: {
      input: { bench: `${here}main.ts`, "kernel-tests": `${here}../test/run-all.ts` },
      external: ["webgpu"],
      output: { format: "es", entryFileNames: "[name].mjs" },
    },
  },
  ssr: { noExternal: true, external: ["webgpu"] },
});
