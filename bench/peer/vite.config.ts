import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants } from "node:zlib";
import { defineConfig, type Plugin } from "vite";
import { EPS, ORT_FILES } from "./ort.ts";

// One self-contained ES module for Node (dist/peer/peer.mjs) with only `webgpu` (Dawn) left external,
// plus the onnxruntime-web files the two WebGPU EPs load, brotli-compressed beside it (dist/peer/ort/
// *.br, ~10 MB instead of ~56 MB; unpacked into the temp folder at run time).
const here = fileURLToPath(new URL(".", import.meta.url));
const outDir = join(here, "dist/peer");

function ortFiles(): Plugin {
  return {
    name: "peer-ort-files",
    closeBundle() {
      const dist = join(here, "node_modules/onnxruntime-web/dist");
      mkdirSync(join(outDir, "ort"), { recursive: true });
      for (const f of new Set(EPS.flatMap((ep) => ORT_FILES[ep]))) {
        const src = join(dist, f);
        const dst = join(outDir, "ort", `${f}.br`);
        if (existsSync(dst) && statSync(dst).mtimeMs >= statSync(src).mtimeMs) continue;
        const params = { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_LGWIN]: 24 };
        writeFileSync(dst, brotliCompressSync(readFileSync(src), { params }));
      }
    },
  };
}

export default defineConfig({
  plugins: [ortFiles()],
  build: {
    ssr: true,
    outDir,
    emptyOutDir: false,
    target: "node20",
    minify: false,
    rollupOptions: {
      input: { peer: join(here, "peer.ts") },
      external: ["webgpu"],
      output: { format: "es", entryFileNames: "[name].mjs" },
    },
  },
  ssr: { noExternal: true, external: ["webgpu"] },
});
