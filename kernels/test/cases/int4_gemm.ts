import {
  expectClose,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuardedF32,
  uploadBuffer,
} from "@wisp/gpu-test";
import { int4GemmBench } from "../../bench/cases/gemm.ts";
import { dequantizeInt4, quantizeInt4 } from "../../src/format/int4.ts";
import { runDispatches } from "../../src/kernel.ts";
import { type GemmTile, gemmTileCandidates, int4Gemm } from "../../src/matmul/int4_gemm.ts";
import { matmulRef } from "../../src/matmul/matmul.ref.ts";
import type { KernelCase } from "../case.ts";

// f32 accumulation (k-order per output, one fma chain) against the f64 reference on the same
// dequantized weights: rounding grows like sqrt(K)·2^-24, far below 1e-5 for K ≤ 4096.
const TOL = { relNorm: 1e-5 };

const tileName = (t: GemmTile) => `${t.bm}x${t.bn}/${t.tm}x${t.tn}`;

function int4GemmCase(
  m: number,
  n: number,
  k: number,
  opts: { bias?: boolean; tile?: GemmTile; smoke?: boolean } = {},
): KernelCase {
  const { bias = false, tile, smoke = false } = opts;
  return {
    name: `int4_gemm M=${m} N=${n} K=${k}${bias ? " +bias" : ""} tile=${tile ? tileName(tile) : "default"}`,
    smoke,
    async run(device) {
      const seed = m * 1_000_003 + n * 1009 + k;
      const x = randomF32(m * k, seed, 2);
      const wq = quantizeInt4(randomNormalF32(n * k, seed + 1, 0.05), n, k);
      const b = bias ? randomF32(n, seed + 2, 0.5) : undefined;
      const y = guardedOutput(device, m * n);
      runDispatches(device, [
        int4Gemm(
          device,
          { m, n, k },
          {
            x: uploadBuffer(device, x),
            qweight: uploadBuffer(device, wq.qweight),
            scales: uploadBuffer(device, wq.scales),
            bias: b && uploadBuffer(device, b),
            y: y.buffer,
          },
          tile,
        ),
      ]);
      const ref = matmulRef(x, dequantizeInt4(wq), m, n, k, b);
      const e = expectClose(await readGuardedF32(device, y), ref, TOL);
      return `relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
    },
  };
}

export const int4GemmCases: KernelCase[] = [
  int4GemmCase(1, 40, 64, { smoke: true }),
  int4GemmCase(3, 33, 172, { bias: true, smoke: true }),
  int4GemmCase(17, 100, 172, { bias: true }),
  int4GemmCase(5, 40, 4096),
  int4GemmCase(512, 72, 96, { bias: true }),
  // Every tiling, at M and N that leave partial tiles on both edges and K with a short last block.
  ...gemmTileCandidates.map((tile) => int4GemmCase(130, 150, 172, { bias: true, tile })),
  int4GemmCase(70, 64, 4096, { bias: true }),
  {
    // The bench case builder (real shapes run only on the lent GPU) at a small shape: it must build
    // and run without validation errors.
    name: "int4_gemm bench case builds (M=8 N=64 K=96)",
    async run(device) {
      runDispatches(device, int4GemmBench(8, 64, 96).setup(device));
      await device.queue.onSubmittedWorkDone();
      return undefined;
    },
  },
];
