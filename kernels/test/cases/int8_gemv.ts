import {
  expectClose,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuardedF32,
  rng,
  uploadBuffer,
} from "@wisp/gpu-test";
import { f32ToF16Bits, packHalves } from "../../src/format/f16.ts";
import { blocksPerRow } from "../../src/format/int4.ts";
import { dequantizeInt8, type Int8Matrix, quantizeInt8 } from "../../src/format/int8.ts";
import { runDispatches } from "../../src/kernel.ts";
import type { GemvShape } from "../../src/matmul/int4_gemv.ts";
import { type Int8GemvVariant, int8Gemv } from "../../src/matmul/int8_gemv.ts";
import { matmulRef } from "../../src/matmul/matmul.ref.ts";
import { type KernelCase, variantLabel } from "../case.ts";

// f32 accumulation of exactly dequantized weights (q·256^p and x·256^-p are exact, each FMA rounds
// once) against the f64 reference on the same dequantized weights: only the summation order differs.
const TOL = { relNorm: 1e-5 };

/**
 * Every int8 byte (−128 included) and scales across the f16 range that matters (subnormal to large),
 * as a GGUF Q8_0 file may hold them: what quantizeInt8 never writes must still be read right.
 */
function rawInt8Matrix(n: number, k: number, seed: number): Int8Matrix {
  const r = rng(seed);
  const kb = blocksPerRow(k);
  const qweight = new Uint32Array(n * kb * 8);
  for (let i = 0; i < qweight.length; i++) qweight[i] = Math.floor(r() * 2 ** 32);
  // Padding past K holds zeros, as every writer of the format leaves it.
  for (let row = 0; row < n; row++) {
    for (let c = k; c < kb * 32; c++) {
      const w = (row * kb + (c >> 5)) * 8 + ((c & 31) >> 2);
      qweight[w] = qweight[w]! & ~(0xff << ((c & 3) * 8));
    }
  }
  const halves = Array.from({ length: n * kb }, () =>
    f32ToF16Bits((r() < 0.5 ? -1 : 1) * 2 ** (r() * 16 - 22)),
  );
  return { n, k, kb, qweight, scales: packHalves(halves) };
}

export function int8GemvCase(
  shape: GemvShape,
  opts: {
    bias?: boolean;
    variant?: Partial<Int8GemvVariant>;
    smoke?: boolean;
    raw?: boolean;
  } = {},
): KernelCase {
  const { m, n, k } = shape;
  const variant = opts.variant ?? {};
  return {
    name: `int8_gemv m=${m} n=${n} k=${k}${opts.bias ? " +bias" : ""}${opts.raw ? " raw bytes" : ""}${variantLabel(variant)}`,
    smoke: opts.smoke ?? false,
    async run(device) {
      const seed = m * 1009 + n * 31 + k + 5;
      const mat = opts.raw
        ? rawInt8Matrix(n, k, seed)
        : quantizeInt8(randomNormalF32(n * k, seed, 0.05), n, k);
      const x = randomF32(m * k, seed + 1, 1);
      const bias = opts.bias ? randomF32(n, seed + 2, 0.5) : undefined;
      const y = guardedOutput(device, m * n);
      runDispatches(device, [
        int8Gemv(
          device,
          shape,
          {
            x: uploadBuffer(device, x),
            qweight: uploadBuffer(device, mat.qweight),
            scales: uploadBuffer(device, mat.scales),
            ...(bias ? { bias: uploadBuffer(device, bias) } : {}),
            y: y.buffer,
          },
          variant,
        ),
      ]);
      const ref = matmulRef(x, dequantizeInt8(mat), m, n, k, bias);
      const e = expectClose(await readGuardedF32(device, y), ref, TOL);
      return `relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
    },
  };
}

/**
 * NaN and ±Inf in x: they reach only their own row of y (rows of x never mix), and there as a
 * non-finite value wherever the f64 reference is non-finite; every other row matches the reference.
 * WGSL lets an implementation assume finite math, so only that much is asserted (not NaN vs Inf).
 */
function int8GemvSpecialsCase(): KernelCase {
  const m = 4;
  const n = 37;
  const k = 100;
  return {
    name: `int8_gemv m=${m} n=${n} k=${k} NaN/Inf in x`,
    async run(device) {
      const mat = quantizeInt8(randomNormalF32(n * k, 3, 0.05), n, k);
      const x = randomF32(m * k, 4, 1);
      x[1 * k + 7] = Number.NaN;
      x[2 * k + 50] = Number.POSITIVE_INFINITY;
      x[2 * k + 99] = Number.NEGATIVE_INFINITY;
      const y = guardedOutput(device, m * n);
      runDispatches(device, [
        int8Gemv(
          device,
          { m, n, k },
          {
            x: uploadBuffer(device, x),
            qweight: uploadBuffer(device, mat.qweight),
            scales: uploadBuffer(device, mat.scales),
            y: y.buffer,
          },
        ),
      ]);
      const got = await readGuardedF32(device, y);
      const ref = matmulRef(x, dequantizeInt8(mat), m, n, k);
      for (const row of [0, 3]) {
        expectClose(
          got.subarray(row * n, (row + 1) * n),
          ref.subarray(row * n, (row + 1) * n),
          TOL,
          `row ${row}`,
        );
      }
      let nonFinite = 0;
      for (const row of [1, 2]) {
        for (let j = 0; j < n; j++) {
          if (Number.isFinite(ref[row * n + j]!)) continue;
          nonFinite++;
          if (Number.isFinite(got[row * n + j]!)) {
            throw new Error(`y[${row}][${j}] = ${got[row * n + j]}, the reference is ${ref[row * n + j]}`);
          }
        }
      }
      return `${nonFinite} non-finite outputs where the reference has them; clean rows within ${TOL.relNorm}`;
    },
  };
}

export const int8GemvCases: KernelCase[] = [
  int8GemvCase({ m: 1, n: 5, k: 64 }, { bias: true, smoke: true }),
  int8GemvCase({ m: 2, n: 3, k: 40 }, { smoke: true, raw: true }),
  // Edge shapes: k = 1 (one real weight, 31 zeros of padding), 31, 33 (a 1-weight last block), k with
  // half-empty last blocks (k % 32 ≤ 16: the second unit is all padding), n = 1, 3, ragged n.
  int8GemvCase({ m: 1, n: 1, k: 1 }),
  int8GemvCase({ m: 3, n: 3, k: 1 }, { bias: true }),
  int8GemvCase({ m: 1, n: 3, k: 31 }),
  int8GemvCase({ m: 1, n: 129, k: 33 }, { bias: true }),
  int8GemvCase({ m: 2, n: 129, k: 48 }),
  int8GemvCase({ m: 1, n: 37, k: 172 }, { bias: true }),
  int8GemvCase({ m: 1, n: 1, k: 4096 }, { bias: true }),
  int8GemvCase({ m: 1, n: 1003, k: 64 }, { raw: true }),
  int8GemvCase({ m: 1, n: 1000, k: 512 }, { bias: true }),
  int8GemvCase({ m: 1, n: 50, k: 4095 }, { raw: true }),
  int8GemvCase({ m: 3, n: 50, k: 4096 }, { bias: true }),
  int8GemvCase({ m: 4, n: 33, k: 2047 }, { raw: true }),
  int8GemvCase({ m: 5, n: 9, k: 33 }),
  int8GemvCase({ m: 6, n: 17, k: 300 }, { bias: true, raw: true }),
  int8GemvCase({ m: 7, n: 129, k: 96 }),
  int8GemvCase({ m: 8, n: 19, k: 172 }, { bias: true }),
  int8GemvCase({ m: 8, n: 16, k: 4096 }, { raw: true }),
  // The lm_head's default split (n ≥ 65536: 128 rows a workgroup, tk = 8).
  int8GemvCase({ m: 1, n: 65536 + 77, k: 64 }, { bias: true }),
  // x staged in several chunks, a chunk that is not a multiple of tk, unrolled steps, narrow tk.
  int8GemvCase({ m: 1, n: 40, k: 4096 }, { variant: { chunk: 32 } }),
  int8GemvCase({ m: 2, n: 21, k: 4000 }, { variant: { tk: 16, tr: 2, unroll: 2, chunk: 20 } }),
  int8GemvCase(
    { m: 3, n: 22, k: 3000 },
    { variant: { tk: 16, tr: 2, unroll: 2, chunk: 20, prefetch: false } },
  ),
  int8GemvCase(
    { m: 1, n: 41, k: 4096 },
    { variant: { tk: 32, tr: 8, unroll: 1, chunk: 32, prefetch: false } },
  ),
  int8GemvCase({ m: 1, n: 30, k: 2048 }, { variant: { tk: 8, tr: 4, unroll: 2 }, bias: true, raw: true }),
  int8GemvCase({ m: 4, n: 13, k: 2048 }, { variant: { tk: 64, tr: 1, unroll: 1 } }),
  int8GemvCase({ m: 8, n: 8, k: 1024 }, { variant: { tk: 4, tr: 1, unroll: 2, chunk: 9 } }),
  // More workgroups than one grid dimension holds (rows from wid.x + wid.y·nwg.x).
  int8GemvCase({ m: 1, n: 4 * 65536 + 3, k: 8 }, { variant: { tk: 1, tr: 1, unroll: 1 }, bias: true }),
  int8GemvSpecialsCase(),
];
