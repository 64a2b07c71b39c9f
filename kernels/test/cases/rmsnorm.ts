import { expectClose, guardedOutput, randomF32, readGuardedF32, uploadBuffer } from "@wisp/gpu-test";
import { runDispatches } from "../../src/kernel.ts";
import { rmsNormRef } from "../../src/norm/rmsnorm.ref.ts";
import { rmsNorm } from "../../src/norm/rmsnorm.ts";
import type { KernelCase } from "../case.ts";

// f32 with f64 reference: the reduction order differs, so a few ulps over dim terms.
const TOL = { relNorm: 1e-6, relMax: 1e-5 };

function rmsNormCase(rows: number, dim: number, eps: number, smoke = false): KernelCase {
  return {
    name: `rmsnorm rows=${rows} dim=${dim} eps=${eps}`,
    smoke,
    async run(device) {
      const x = randomF32(rows * dim, rows * 7919 + dim, 3);
      const w = randomF32(dim, dim, 1.5);
      const out = guardedOutput(device, rows * dim);
      runDispatches(device, [
        rmsNorm(
          device,
          { rows, dim, eps },
          { x: uploadBuffer(device, x), weight: uploadBuffer(device, w), out: out.buffer },
        ),
      ]);
      const e = expectClose(await readGuardedF32(device, out), rmsNormRef(x, w, rows, dim, eps), TOL);
      return `relNorm ${e.relNorm.toExponential(2)}`;
    },
  };
}

export const rmsNormCases: KernelCase[] = [
  rmsNormCase(1, 64, 1e-5, true),
  rmsNormCase(17, 172, 1e-6),
  rmsNormCase(3, 4096, 1e-5),
  rmsNormCase(512, 576, 1e-5),
  rmsNormCase(2, 8, 1e-2, true),
  // Ragged lanes of the four-in-flight steps: 1000 (lanes 232.. sum 3 values), 5000 (a partial second step).
  rmsNormCase(2, 1000, 1e-5),
  rmsNormCase(1, 5000, 1e-6),
];
