import { withErrorScopes } from "@wisp/gpu-test";
import { nodeDevice } from "@wisp/gpu-test/node";
import { it } from "vitest";
import type { KernelCase } from "./case.ts";

/** Registers each case as a vitest test on the Node (Dawn) device, inside error scopes. */
export function runCases(cases: readonly KernelCase[]): void {
  for (const c of cases) {
    it(c.name, async () => {
      const { device } = await nodeDevice();
      const detail = await withErrorScopes(device, () => c.run(device));
      if (detail && process.env.WISP_TEST_VERBOSE) console.log(`${c.name}: ${detail}`);
    });
  }
}
