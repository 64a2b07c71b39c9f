// Prefill GEMMs at Llama-3-8B shapes (M = 512 prompt tokens): W (N, K) is q/o (4096×4096), gate/up
// (14336×4096) and down (4096×14336). Compute-bound: judge them by flops, not bytes.
import { randomF32, randomNormalF32, rng, uploadBuffer } from "@wisp/gpu-test";
import { f32ToF16Bits, packHalves } from "../../src/format/f16.ts";
import { blocksPerRow, int4Bytes } from "../../src/format/int4.ts";
import type { Dispatch } from "../../src/kernel.ts";
import { denseGemm } from "../../src/matmul/dense_gemm.ts";
import { type GemmTile, gemmTileCandidates, int4Gemm } from "../../src/matmul/int4_gemm.ts";
import type { BenchCase } from "../case.ts";

export { gemmTileCandidates };

const tileName = (t: GemmTile) => `${t.bm}x${t.bn}/${t.tm}x${t.tn}`;

function outBuffer(device: GPUDevice, words: number): GPUBuffer {
  return device.createBuffer({ size: words * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
}

/** INT4 GEMM y (m, n) = x (m, k) · Wᵀ, W random INT4 data (any nibbles, random small f16 scales). */
export function int4GemmBench(m: number, n: number, k: number, tile?: GemmTile): BenchCase {
  return {
    name: `int4_gemm M=${m} N=${n} K=${k}${tile ? ` tile=${tileName(tile)}` : ""}`,
    bytes: int4Bytes(n, k) + 4 * m * k + 4 * m * n,
    flops: 2 * m * n * k,
    setup(device): Dispatch[] {
      const kb = blocksPerRow(k);
      // Random words are valid INT4 data; quantizing a random f32 matrix this size would take seconds.
      const r = rng(n * 31 + k);
      const qweight = new Uint32Array(n * kb * 4);
      for (let i = 0; i < qweight.length; i++) qweight[i] = Math.floor(r() * 0x1_0000_0000) >>> 0;
      const scales = packHalves(Uint16Array.from(randomF32(n * kb, n + k, 0.02), f32ToF16Bits));
      return [
        int4Gemm(
          device,
          { m, n, k },
          {
            x: uploadBuffer(device, randomF32(m * k, m + k, 1)),
            qweight: uploadBuffer(device, qweight),
            scales: uploadBuffer(device, scales),
            y: outBuffer(device, m * n),
          },
          tile,
        ),
      ];
    },
  };
}

/** f32 GEMM y (m, n) = x (m, k) · Wᵀ, W (n, k) f32. */
export function f32GemmBench(m: number, n: number, k: number, tile?: GemmTile): BenchCase {
  return {
    name: `f32_gemm M=${m} N=${n} K=${k}${tile ? ` tile=${tileName(tile)}` : ""}`,
    bytes: 4 * n * k + 4 * m * k + 4 * m * n,
    flops: 2 * m * n * k,
    setup(device): Dispatch[] {
      return [
        denseGemm(
          device,
          { m, n, k },
          "f32",
          {
            x: uploadBuffer(device, randomF32(m * k, m + k, 1)),
            w: uploadBuffer(device, randomNormalF32(n * k, n * 7 + k, 0.02)),
            y: outBuffer(device, m * n),
          },
          tile,
        ),
      ];
    },
  };
}

const M = 512;
const SHAPES: readonly [number, number][] = [
  [4096, 4096],
  [14336, 4096],
  [4096, 14336],
];

/** The default tiling (defaultGemmTile) at each shape. */
export const gemmBenchCases: BenchCase[] = [
  ...SHAPES.map(([n, k]) => int4GemmBench(M, n, k)),
  f32GemmBench(M, 4096, 4096),
];

/** Every candidate tiling at the square shape, to choose the default from. */
export const gemmTileBenchCases: BenchCase[] = gemmTileCandidates.flatMap((tile) => [
  int4GemmBench(M, 4096, 4096, tile),
  f32GemmBench(M, 4096, 4096, tile),
]);
