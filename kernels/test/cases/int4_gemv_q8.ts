import {
  expectClose,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuardedF32,
  uploadBuffer,
} from "@wisp/gpu-test";
import { q8BenchVariants } from "../../bench/cases/gemv.ts";
import { splitGateUp, swigluRef } from "../../src/elementwise/swiglu.ref.ts";
import { dequantizeInt4, quantizeInt4 } from "../../src/format/int4.ts";
import { runDispatches } from "../../src/kernel.ts";
import { type GemvShape, type Int4GemvVariant, int4Gemv } from "../../src/matmul/int4_gemv.ts";
import { matmulRef, quantizeQ8Ref } from "../../src/matmul/matmul.ref.ts";
import { rmsNormRef } from "../../src/norm/rmsnorm.ref.ts";
import { type KernelCase, variantLabel } from "../case.ts";

// Against the f64 product of the reference-quantized x (quantizeQ8Ref) and the dequantized weights:
// the integer sums are exact, so what is left is the f32 block scaling, the summation order, and a
// rare tie moved by one step of d.
const TOL = { relNorm: 2e-5 };
// Against unquantized x: the 8-bit rounding itself (about 1/254 of a block's max per value).
const TOL_F32 = { relNorm: 3e-2 };

export function int4GemvQ8Case(
  shape: GemvShape,
  prologue: "norm" | "swiglu" | "none",
  opts: {
    residual?: boolean;
    bias?: boolean;
    variant?: Partial<Int4GemvVariant>;
    smoke?: boolean;
    zeroBlock?: boolean;
  } = {},
): KernelCase {
  const { m, n, k } = shape;
  const variant = opts.variant ?? {};
  const residual = opts.residual ?? false;
  return {
    name: `int4_gemv q8 ${prologue}${residual ? "+residual" : ""} m=${m} n=${n} k=${k}${opts.bias ? " +bias" : ""}${opts.zeroBlock ? " zero block" : ""}${variantLabel(variant)}`,
    smoke: opts.smoke ?? false,
    async run(device) {
      const seed = m * 5003 + n * 17 + k + (prologue === "swiglu" ? 3 : prologue === "norm" ? 7 : 0);
      const mat = quantizeInt4(randomNormalF32(n * k, seed, 0.05), n, k);
      const xw = prologue === "swiglu" ? 2 * k : k;
      const x = randomF32(m * xw, seed + 1, 3);
      // A block of zeros (d = 0), a block with one large value (the rest round to few steps), and a
      // block of values near the smallest normal f32 (127/max overflows f32: counted as zero).
      if (opts.zeroBlock) {
        for (let t = 0; t < Math.min(32, xw); t++) x[t] = 0;
        if (xw > 40) x[40] = 1000;
        for (let t = 64; t < Math.min(96, xw); t++) x[t] = x[t]! * 1e-37;
      }
      const normW = randomF32(k, seed + 2, 1.5);
      const bias = opts.bias ? randomF32(n, seed + 3, 0.5) : undefined;
      const y0 = randomF32(m * n, seed + 4, 2);
      const eps = 1e-5;
      const up = (d: ArrayLike<number>) => uploadBuffer(device, d as Float32Array);
      const y = guardedOutput(device, m * n);
      if (residual) device.queue.writeBuffer(y.buffer, 0, y0 as Float32Array<ArrayBuffer>);
      runDispatches(device, [
        int4Gemv(
          device,
          shape,
          {
            x: up(x),
            qweight: up(mat.qweight),
            scales: up(mat.scales),
            ...(bias ? { bias: up(bias) } : {}),
            y: y.buffer,
          },
          variant,
          {
            ...(prologue === "norm" ? { norm: { weight: up(normW), eps } } : {}),
            ...(prologue === "swiglu" ? { swiglu: true } : {}),
            residual,
          },
          "q8",
        ),
      ]);
      let xin: ArrayLike<number> = x;
      if (prologue === "norm") xin = rmsNormRef(x, normW, m, k, eps);
      if (prologue === "swiglu") {
        const g = splitGateUp(x, m, k);
        xin = swigluRef(g.gate, g.up, m, k);
      }
      const w = dequantizeInt4(mat);
      const ref = matmulRef(quantizeQ8Ref(xin, m, k), w, m, n, k, bias);
      const exact = matmulRef(xin, w, m, n, k, bias);
      if (residual) {
        for (let i = 0; i < ref.length; i++) {
          ref[i] = ref[i]! + y0[i]!;
          exact[i] = exact[i]! + y0[i]!;
        }
      }
      const out = await readGuardedF32(device, y);
      const e = expectClose(out, ref, TOL);
      const ef = expectClose(out, exact, TOL_F32, "output against unquantized x");
      return `relNorm ${e.relNorm.toExponential(2)}; against unquantized x ${ef.relNorm.toExponential(2)}`;
    },
  };
}

export const int4GemvQ8Cases: KernelCase[] = [
  int4GemvQ8Case({ m: 1, n: 5, k: 64 }, "none", { bias: true, smoke: true }),
  int4GemvQ8Case({ m: 1, n: 37, k: 64 }, "norm", { smoke: true }),
  int4GemvQ8Case({ m: 1, n: 33, k: 64 }, "swiglu", { residual: true, smoke: true }),
  int4GemvQ8Case({ m: 2, n: 3, k: 40 }, "none", { zeroBlock: true, smoke: true }),
  // Edge shapes: n = 1, k not a multiple of 32, ragged n, every m.
  int4GemvQ8Case({ m: 1, n: 1, k: 172 }, "none"),
  int4GemvQ8Case({ m: 1, n: 37, k: 172 }, "none", { bias: true, zeroBlock: true }),
  int4GemvQ8Case({ m: 3, n: 50, k: 4096 }, "none", { bias: true }),
  int4GemvQ8Case({ m: 8, n: 19, k: 172 }, "norm", { bias: true }),
  int4GemvQ8Case({ m: 5, n: 9, k: 33 }, "none"),
  int4GemvQ8Case({ m: 1, n: 50, k: 2048 }, "norm", { bias: true }),
  int4GemvQ8Case({ m: 1, n: 64, k: 5632 }, "swiglu", { residual: true }),
  int4GemvQ8Case({ m: 2, n: 17, k: 4002 }, "swiglu"), // k % 4 != 0: scalar loads
  int4GemvQ8Case({ m: 8, n: 16, k: 512 }, "none", { residual: true }),
  // x staged in chunks, a chunk that is not a multiple of tk, narrow tk, no prefetch.
  int4GemvQ8Case({ m: 1, n: 70, k: 4096 }, "norm", { variant: { chunk: 32 } }),
  int4GemvQ8Case({ m: 2, n: 21, k: 3000 }, "none", { variant: { tk: 16, tr: 2, chunk: 20 } }),
  int4GemvQ8Case({ m: 1, n: 41, k: 4096 }, "none", {
    variant: { tk: 32, tr: 8, chunk: 32, prefetch: false },
  }),
  int4GemvQ8Case({ m: 4, n: 13, k: 2048 }, "none", { variant: { tk: 64, tr: 1 } }),
  int4GemvQ8Case({ m: 1, n: 300, k: 14336 }, "swiglu", { residual: true, variant: { tk: 64, tr: 2 } }),
  // Two blocks a step (the frame's U = 2), with and without prefetch, a ragged chunk.
  int4GemvQ8Case({ m: 2, n: 21, k: 3000 }, "norm", { variant: { tk: 16, tr: 2, unroll: 2, chunk: 20 } }),
  int4GemvQ8Case({ m: 1, n: 30, k: 2048 }, "swiglu", {
    bias: true,
    variant: { tk: 8, tr: 4, unroll: 2, chunk: 20, prefetch: false },
  }),
  // Every q8 split the kernel bench times, at a ragged small shape.
  ...q8BenchVariants(4096, 4096)
    .filter((v) => v.math === "q8")
    .map((v) =>
      int4GemvQ8Case({ m: 1, n: 75, k: 1000 }, "none", { variant: v.variant as Int4GemvVariant, bias: true }),
    ),
];
