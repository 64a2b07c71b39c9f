// Every kernel case outside vitest, for the lent GPU machine (no npm there): bundled into
// dist/kernel-tests.mjs by bench/vite.config.ts. Exits non-zero if any case fails.
//   node dist/kernel-tests.mjs [filter]
import { withErrorScopes } from "@wisp/gpu-test";
import { nodeDevice } from "@wisp/gpu-test/node";
import type { KernelCase } from "./case.ts";

const modules = import.meta.glob<Record<string, unknown>>("./cases/*.ts", { eager: true });
const isCase = (v: unknown): v is KernelCase =>
  typeof v === "object" && v !== null && "run" in v && "name" in v;
const filter = process.argv[2];
const cases = Object.values(modules)
  .flatMap((m) => Object.values(m).flatMap((v) => (Array.isArray(v) ? v.filter(isCase) : [])))
  .filter((c) => !filter || c.name.includes(filter));

const { device, adapterInfo } = await nodeDevice();
console.log(`kernel cases on ${adapterInfo.vendor} ${adapterInfo.architecture} ${adapterInfo.description}`);
let failed = 0;
for (const c of cases) {
  const t0 = performance.now();
  try {
    const detail = await withErrorScopes(device, () => c.run(device));
    console.log(`ok   ${c.name} (${(performance.now() - t0).toFixed(0)} ms) ${detail ?? ""}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${c.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
console.log(`${cases.length - failed} passed, ${failed} failed`);
device.destroy();
process.exitCode = failed > 0 ? 1 : 0;
