import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The model bench as one self-contained ES module for Node with only `webgpu` (Dawn) external, so it
// runs on the lent GPU machine (Node from .device, no npm packages there).
const here = fileURLToPath(new URL(".", import.meta.url));
export default defineConfig({
  build: {
    ssr: true,
    outDir: `${here}../dist`,
    emptyOutDir: false,
    target: "node20",
    minify: false,
    rollupOptions: {
      input: { "model-bench": `${here}model.ts` },
      external: ["webgpu"],
      output: { format: "es", entryFileNames: "[name].mjs" },
    },
  },
  ssr: { noExternal: true, external: ["webgpu"] },
});
