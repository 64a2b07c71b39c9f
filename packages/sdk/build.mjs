// Builds packages/sdk/dist:
//   wisp.js         ESM main-thread API (import { createEngine } from ".../wisp.js")
//   wisp.iife.js    the same API as window.Wisp, for a plain <script src>
//   wisp-worker.js  the module worker (runtime + kernels), found beside whichever of the two loaded it
//   wisp.d.ts       types (types/ holds the declaration tree tsc emits)
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const dist = `${here}dist`;
const spawnSource = `${here}src/client/spawn.ts`;
const spawnDist = `${here}src/client/spawn-dist.ts`;

// In the bundles the worker is a sibling file, not something a consumer's bundler builds.
const distWorkerSpawn = {
  name: "wisp-dist-worker-spawn",
  enforce: "pre",
  async resolveId(source, importer, options) {
    if (!importer || !source.endsWith("/spawn.ts")) return null;
    const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
    return resolved?.id === spawnSource ? spawnDist : null;
  },
};

const common = (minify) => ({
  configFile: false,
  logLevel: "warn",
  root: here,
  plugins: [distWorkerSpawn],
  build: { outDir: dist, emptyOutDir: false, target: "es2022", minify, sourcemap: true },
});

// The page-side bundles use only the runtime's error classes; its other modules (tokenizers, jinja,
// GGUF metadata tables) run code at import, which would otherwise keep them in. Only the SDK's own
// modules count as having side effects there.
const pageOnly = { moduleSideEffects: (id) => id.startsWith(`${here}src/`) };

rmSync(dist, { recursive: true, force: true });

const bundles = [
  { entry: "src/index.ts", format: "es", file: "wisp.js", minify: false, treeshake: pageOnly },
  {
    entry: "src/index.ts",
    format: "iife",
    file: "wisp.iife.js",
    minify: "esbuild",
    name: "Wisp",
    treeshake: pageOnly,
  },
  { entry: "src/worker.ts", format: "es", file: "wisp-worker.js", minify: false },
];
for (const b of bundles) {
  const config = common(b.minify);
  await build({
    ...config,
    build: {
      ...config.build,
      lib: {
        entry: `${here}${b.entry}`,
        formats: [b.format],
        fileName: () => b.file,
        ...(b.name ? { name: b.name } : {}),
      },
      rollupOptions: {
        output: { inlineDynamicImports: true },
        ...(b.treeshake ? { treeshake: b.treeshake } : {}),
      },
    },
  });
}

// Declarations: tsc emits the page-side API and the runtime's errors.ts (no imports of its own); the
// SDK's references to "@wisp/runtime" (only its error classes) are pointed at that file, so the types
// stand alone. A consumer file compiled against dist/wisp.d.ts proves it.
const tsc = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
execFileSync(process.execPath, [tsc, "-p", `${here}tsconfig.build.json`], { stdio: "inherit" });
const sdkTypes = `${dist}/types/packages/sdk/src`;
const runtimeErrors = `${dist}/types/packages/runtime/src/errors.js`;
for (const file of readdirSync(sdkTypes, { recursive: true })) {
  if (!String(file).endsWith(".d.ts")) continue;
  const path = `${sdkTypes}/${file}`;
  const text = readFileSync(path, "utf8");
  let target = relative(dirname(path), runtimeErrors);
  if (!target.startsWith(".")) target = `./${target}`;
  // tsc keeps the specifiers as written: ".ts" suffixes become ".js" for consumers' resolution.
  const fixed = text
    .replaceAll('"@wisp/runtime"', `"${target}"`)
    .replace(/(from "\.{1,2}\/[^"]*)\.ts"/g, '$1.js"')
    .replace(/(import\("\.{1,2}\/[^"]*)\.ts"/g, '$1.js"');
  writeFileSync(path, fixed);
}
writeFileSync(`${dist}/wisp.d.ts`, `export * from "./types/packages/sdk/src/index.js";\n`);
const check = `${dist}/.types-check`;
mkdirSync(check, { recursive: true });
writeFileSync(
  `${check}/consumer.ts`,
  `import { createEngine, WebGPUUnavailable, type ChatCompletion } from "../wisp.js";
const engine = await createEngine({ model: "org/model" });
const r: ChatCompletion = await engine.chat.completions.create({ messages: [{ role: "user", content: "hi" }] });
const e: string = new WebGPUUnavailable("x").code;
console.log(r.choices[0]?.message.content, e);
`,
);
try {
  writeFileSync(
    `${check}/tsconfig.json`,
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "es2022",
        module: "esnext",
        moduleResolution: "bundler",
        lib: ["es2023", "dom"],
        types: [],
      },
      files: ["consumer.ts"],
    }),
  );
  execFileSync(process.execPath, [tsc, "-p", `${check}/tsconfig.json`], { stdio: "inherit" });
} finally {
  rmSync(check, { recursive: true, force: true });
}

for (const f of ["wisp.js", "wisp.iife.js", "wisp-worker.js", "wisp.d.ts"]) {
  const size = readFileSync(`${dist}/${f}`).length;
  console.log(`dist/${f}  ${(size / 1024).toFixed(1)} KiB`);
}
