import {
  expectClose,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuardedF32,
  uploadBuffer,
} from "@wisp/gpu-test";
import { f32GemmBench } from "../../bench/cases/gemm.ts";
import { f16BitsToF32, f32ToF16Bits, packHalves } from "../../src/format/f16.ts";
import { runDispatches } from "../../src/kernel.ts";
import { type DenseWeightFormat, denseGemm } from "../../src/matmul/dense_gemm.ts";
import { type GemmTile, gemmTileCandidates } from "../../src/matmul/int4_gemm.ts";
import { matmulRef } from "../../src/matmul/matmul.ref.ts";
import type { KernelCase } from "../case.ts";

// f32 accumulation against the f64 reference on the same weights (f16: the f16-rounded values, which
// the kernel widens exactly): rounding grows like sqrt(K)·2^-24, far below 1e-5 for K ≤ 4096.
const TOL = { relNorm: 1e-5 };

const tileName = (t: GemmTile) => `${t.bm}x${t.bn}/${t.tm}x${t.tn}`;

function denseGemmCase(
  format: DenseWeightFormat,
  m: number,
  n: number,
  k: number,
  opts: { bias?: boolean; tile?: GemmTile; smoke?: boolean } = {},
): KernelCase {
  const { bias = false, tile, smoke = false } = opts;
  return {
    name: `dense_gemm ${format} M=${m} N=${n} K=${k}${bias ? " +bias" : ""} tile=${tile ? tileName(tile) : "default"}`,
    smoke,
    async run(device) {
      const seed = m * 1_000_003 + n * 1009 + k + (format === "f16" ? 7 : 0);
      const x = randomF32(m * k, seed, 2);
      const w32 = randomNormalF32(n * k, seed + 1, 0.05);
      let wRef: ArrayLike<number> = w32;
      let wGpu: Float32Array | Uint32Array = w32;
      if (format === "f16") {
        const halves = Uint16Array.from(w32, f32ToF16Bits);
        wRef = Float64Array.from(halves, f16BitsToF32);
        wGpu = packHalves(halves);
      }
      const b = bias ? randomF32(n, seed + 2, 0.5) : undefined;
      const y = guardedOutput(device, m * n);
      runDispatches(device, [
        denseGemm(
          device,
          { m, n, k },
          format,
          {
            x: uploadBuffer(device, x),
            w: uploadBuffer(device, wGpu),
            bias: b && uploadBuffer(device, b),
            y: y.buffer,
          },
          tile,
        ),
      ]);
      const e = expectClose(await readGuardedF32(device, y), matmulRef(x, wRef, m, n, k, b), TOL);
      return `relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
    },
  };
}

export const denseGemmCases: KernelCase[] = [
  denseGemmCase("f32", 1, 40, 64, { smoke: true }),
  denseGemmCase("f16", 3, 33, 172, { bias: true, smoke: true }),
  denseGemmCase("f32", 17, 100, 173, { bias: true }), // odd K: f32 rows start anywhere
  denseGemmCase("f16", 17, 100, 174, { bias: true }),
  denseGemmCase("f32", 5, 40, 4096),
  denseGemmCase("f16", 9, 40, 4096, { bias: true }),
  denseGemmCase("f32", 512, 40, 64, { bias: true }),
  // Every tiling, at M and N that leave partial tiles on both edges and K with a short last step;
  // f16 differs only in the W loads, so two tilings cover it.
  ...gemmTileCandidates.map((tile) => denseGemmCase("f32", 130, 150, 172, { bias: true, tile })),
  ...[gemmTileCandidates[0]!, gemmTileCandidates[4]!].map((tile) =>
    denseGemmCase("f16", 130, 150, 170, { bias: true, tile }),
  ),
  {
    // The bench case builder (real shapes run only on the lent GPU) at a small shape: it must build
    // and run without validation errors.
    name: "f32_gemm bench case builds (M=8 N=64 K=96)",
    async run(device) {
      runDispatches(device, f32GemmBench(8, 64, 96).setup(device));
      await device.queue.onSubmittedWorkDone();
      return undefined;
    },
  },
];
