import {
  expectClose,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuardedF32,
  uploadBuffer,
} from "@wisp/gpu-test";
import { gemvBenchVariants } from "../../bench/cases/gemv.ts";
import { f16BitsToF32, f32ToF16Bits, packHalves } from "../../src/format/f16.ts";
import { runDispatches } from "../../src/kernel.ts";
import { type DenseWeightType, denseGemv } from "../../src/matmul/dense_gemv.ts";
import type { GemvShape, GemvVariant } from "../../src/matmul/int4_gemv.ts";
import { matmulRef } from "../../src/matmul/matmul.ref.ts";
import { type KernelCase, variantLabel } from "../case.ts";

// f32 accumulation against the f64 reference; f16 weights are widened exactly (unpack2x16float), so the
// reference uses the same f16-rounded weights (f16BitsToF32) and only the summation order differs.
const TOL = { relNorm: 1e-5 };

export function denseGemvCase(
  shape: GemvShape,
  type: DenseWeightType,
  opts: { bias?: boolean; variant?: Partial<GemvVariant>; smoke?: boolean } = {},
): KernelCase {
  const { m, n, k } = shape;
  const variant = opts.variant ?? {};
  return {
    name: `${type}_gemv m=${m} n=${n} k=${k}${opts.bias ? " +bias" : ""}${variantLabel(variant)}`,
    smoke: opts.smoke ?? false,
    async run(device) {
      const seed = m * 7001 + n * 17 + k + (type === "f16" ? 1 : 0);
      const w32 = randomNormalF32(n * k, seed, 0.05);
      let wWords: Uint32Array | Float32Array = w32;
      let wRef: ArrayLike<number> = w32;
      if (type === "f16") {
        const halves = Uint16Array.from(w32, (v) => f32ToF16Bits(v));
        wWords = packHalves(halves);
        wRef = Float64Array.from(halves, (h) => f16BitsToF32(h));
      }
      const x = randomF32(m * k, seed + 1, 1);
      const bias = opts.bias ? randomF32(n, seed + 2, 0.5) : undefined;
      const y = guardedOutput(device, m * n);
      runDispatches(device, [
        denseGemv(
          device,
          shape,
          type,
          {
            x: uploadBuffer(device, x),
            w: uploadBuffer(device, wWords),
            ...(bias ? { bias: uploadBuffer(device, bias) } : {}),
            y: y.buffer,
          },
          variant,
        ),
      ]);
      const ref = matmulRef(x, wRef, m, n, k, bias);
      const e = expectClose(await readGuardedF32(device, y), ref, TOL);
      return `relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
    },
  };
}

// Every variant the bench may pick (f16 and f32 lists), vectorized, with a ragged last workgroup.
const benchVariantCases = (["f16", "f32"] as const).flatMap((type) =>
  gemvBenchVariants(128256, 4096, type).map((bv) =>
    denseGemvCase({ m: 1, n: 45, k: 1024 }, type, { variant: bv.variant, bias: true }),
  ),
);

export const denseGemvCases: KernelCase[] = [
  denseGemvCase({ m: 1, n: 5, k: 64 }, "f16", { bias: true, smoke: true }),
  denseGemvCase({ m: 2, n: 3, k: 40 }, "f32", { smoke: true }),
  // Edge shapes: n = 1, k = 172 (f16: 86 words a row, not vec4-aligned -> element path), odd k.
  denseGemvCase({ m: 1, n: 1, k: 4096 }, "f16", { bias: true }),
  denseGemvCase({ m: 1, n: 1, k: 4096 }, "f32"),
  denseGemvCase({ m: 1, n: 37, k: 172 }, "f16", { bias: true }),
  denseGemvCase({ m: 1, n: 37, k: 172 }, "f32", { bias: true }),
  denseGemvCase({ m: 3, n: 21, k: 33 }, "f16"),
  denseGemvCase({ m: 2, n: 13, k: 175 }, "f32", { bias: true }),
  denseGemvCase({ m: 1, n: 40, k: 4096 }, "f16"),
  denseGemvCase({ m: 3, n: 33, k: 4096 }, "f32", { bias: true }),
  denseGemvCase({ m: 8, n: 19, k: 4096 }, "f16", { bias: true }),
  denseGemvCase({ m: 8, n: 11, k: 172 }, "f32"),
  denseGemvCase({ m: 5, n: 7, k: 200 }, "f16", { variant: { tk: 8, tr: 2, rpt: 8, unroll: 4 } }),
  denseGemvCase({ m: 4, n: 10, k: 1024 }, "f32", { variant: { tk: 64, tr: 1, rpt: 1, unroll: 3 } }),
  // More workgroups than one grid dimension holds (rows from wid.x + wid.y·nwg.x).
  denseGemvCase({ m: 1, n: 70000, k: 8 }, "f16", {
    variant: { tk: 1, tr: 1, rpt: 1, unroll: 1 },
    bias: true,
  }),
  ...benchVariantCases,
];
