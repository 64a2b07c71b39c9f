import {
  expectClose,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuardedF32,
  uploadBuffer,
} from "@wisp/gpu-test";
import { denseGemvBenchCase, gemvBenchVariants, int4GemvBenchCase } from "../../bench/cases/gemv.ts";
import { residualAdd } from "../../src/elementwise/residual_add.ts";
import { splitGateUp, swigluRef } from "../../src/elementwise/swiglu.ref.ts";
import { swiglu } from "../../src/elementwise/swiglu.ts";
import { dequantizeInt4, quantizeInt4 } from "../../src/format/int4.ts";
import { type Dispatch, runDispatches } from "../../src/kernel.ts";
import {
  type GemvFusion,
  type GemvShape,
  type Int4GemvVariant,
  int4Gemv,
} from "../../src/matmul/int4_gemv.ts";
import { int4GemvCandidates } from "../../src/matmul/int4_gemv_tune.ts";
import { matmulRef } from "../../src/matmul/matmul.ref.ts";
import { rmsNormRef } from "../../src/norm/rmsnorm.ref.ts";
import { rmsNorm } from "../../src/norm/rmsnorm.ts";
import { type KernelCase, variantLabel } from "../case.ts";

// f32 accumulation of exactly dequantized weights ((q - 8)·16^p and x·16^-p are exact, each FMA rounds
// once) against the f64 reference on the same dequantized weights: only the summation order differs.
const TOL = { relNorm: 1e-5 };

export function int4GemvCase(
  shape: GemvShape,
  opts: { bias?: boolean; variant?: Partial<Int4GemvVariant>; smoke?: boolean; name?: string } = {},
): KernelCase {
  const { m, n, k } = shape;
  const variant = opts.variant ?? {};
  return {
    name: opts.name ?? `int4_gemv m=${m} n=${n} k=${k}${opts.bias ? " +bias" : ""}${variantLabel(variant)}`,
    smoke: opts.smoke ?? false,
    async run(device) {
      const seed = m * 1009 + n * 31 + k;
      const w = randomNormalF32(n * k, seed, 0.05);
      const mat = quantizeInt4(w, n, k);
      const x = randomF32(m * k, seed + 1, 1);
      const bias = opts.bias ? randomF32(n, seed + 2, 0.5) : undefined;
      const y = guardedOutput(device, m * n);
      runDispatches(device, [
        int4Gemv(
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
      const ref = matmulRef(x, dequantizeInt4(mat), m, n, k, bias);
      const e = expectClose(await readGuardedF32(device, y), ref, TOL);
      return `relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
    },
  };
}

/**
 * A fused GEMV (RMSNorm or SwiGLU prologue, residual epilogue) against the f64 reference of the
 * unfused chain, and bit for bit against the unfused dispatches (rmsnorm / swiglu, plain GEMV,
 * residual add) on the same device: the prologue reproduces those kernels' arithmetic and order.
 */
export function int4GemvFusedCase(
  shape: GemvShape,
  prologue: "norm" | "swiglu" | "none",
  opts: { residual?: boolean; bias?: boolean; variant?: Partial<Int4GemvVariant>; smoke?: boolean } = {},
): KernelCase {
  const { m, n, k } = shape;
  const variant = opts.variant ?? {};
  const residual = opts.residual ?? false;
  return {
    name: `int4_gemv fused ${prologue}${residual ? "+residual" : ""} m=${m} n=${n} k=${k}${opts.bias ? " +bias" : ""}${variantLabel(variant)}`,
    smoke: opts.smoke ?? false,
    async run(device) {
      const seed = m * 7001 + n * 13 + k + (prologue === "swiglu" ? 5 : 0);
      const mat = quantizeInt4(randomNormalF32(n * k, seed, 0.05), n, k);
      const xw = prologue === "swiglu" ? 2 * k : k;
      const x = randomF32(m * xw, seed + 1, 3);
      const normW = randomF32(k, seed + 2, 1.5);
      const bias = opts.bias ? randomF32(n, seed + 3, 0.5) : undefined;
      const y0 = randomF32(m * n, seed + 4, 2);
      const eps = 1e-5;
      const up = (d: ArrayLike<number>) => uploadBuffer(device, d as Float32Array);
      const w = { qweight: up(mat.qweight), scales: up(mat.scales), ...(bias ? { bias: up(bias) } : {}) };
      const xb = up(x);
      const normB = up(normW);
      // Fused: one dispatch.
      const yF = guardedOutput(device, m * n);
      if (residual) device.queue.writeBuffer(yF.buffer, 0, y0 as Float32Array<ArrayBuffer>);
      runDispatches(device, [
        int4Gemv(device, shape, { x: xb, ...w, y: yF.buffer }, variant, {
          ...(prologue === "norm" ? { norm: { weight: normB, eps } } : {}),
          ...(prologue === "swiglu" ? { swiglu: true } : {}),
          residual,
        }),
      ]);
      // Unfused: the same kernels the graph used before fusion.
      const h = guardedOutput(device, m * k);
      const proj = guardedOutput(device, m * n);
      const yU = guardedOutput(device, m * n);
      device.queue.writeBuffer(yU.buffer, 0, y0 as Float32Array<ArrayBuffer>);
      const chain: Dispatch[] = [];
      if (prologue === "norm") {
        chain.push(rmsNorm(device, { rows: m, dim: k, eps }, { x: xb, weight: normB, out: h.buffer }));
      } else if (prologue === "swiglu") {
        chain.push(swiglu(device, { tokens: m, inter: k }, { gateUp: xb, out: h.buffer }));
      }
      chain.push(
        int4Gemv(
          device,
          shape,
          {
            x: prologue === "none" ? xb : h.buffer,
            ...w,
            y: residual ? proj.buffer : yU.buffer,
          },
          variant,
        ),
      );
      if (residual) chain.push(residualAdd(device, { n: m * n }, { x: yU.buffer, y: proj.buffer }));
      runDispatches(device, chain);

      let xin: ArrayLike<number> = x;
      if (prologue === "norm") xin = rmsNormRef(x, normW, m, k, eps);
      if (prologue === "swiglu") {
        const g = splitGateUp(x, m, k);
        xin = swigluRef(g.gate, g.up, m, k);
      }
      const ref = matmulRef(xin, dequantizeInt4(mat), m, n, k, bias);
      if (residual) for (let i = 0; i < ref.length; i++) ref[i] = ref[i]! + y0[i]!;
      const fused = await readGuardedF32(device, yF);
      const e = expectClose(fused, ref, TOL);
      const unfused = await readGuardedF32(device, yU);
      let diff = 0;
      for (let i = 0; i < fused.length; i++) if (!Object.is(fused[i], unfused[i])) diff++;
      if (diff)
        throw new Error(`fused differs from the unfused dispatches in ${diff} of ${fused.length} outputs`);
      return `relNorm ${e.relNorm.toExponential(2)}, bit-identical to unfused`;
    },
  };
}

const fusedCases: KernelCase[] = [
  int4GemvFusedCase({ m: 1, n: 37, k: 64 }, "norm", { smoke: true }),
  int4GemvFusedCase({ m: 1, n: 50, k: 2048 }, "norm", { bias: true }),
  int4GemvFusedCase({ m: 3, n: 40, k: 172 }, "norm"), // k < 256 lanes, partial block
  int4GemvFusedCase({ m: 8, n: 19, k: 1000 }, "norm", { bias: true }),
  int4GemvFusedCase({ m: 1, n: 70, k: 4096 }, "norm", { variant: { chunk: 32 } }), // staged in chunks
  int4GemvFusedCase({ m: 2, n: 21, k: 3000 }, "norm", { variant: { tk: 16, tr: 2, unroll: 2, chunk: 20 } }),
  int4GemvFusedCase({ m: 1, n: 30, k: 1024 }, "norm", { variant: { tk: 8, tr: 4 } }), // 32 threads, 8 lanes each
  int4GemvFusedCase({ m: 1, n: 33, k: 64 }, "swiglu", { residual: true, smoke: true }),
  int4GemvFusedCase({ m: 1, n: 64, k: 5632 }, "swiglu", { residual: true }),
  int4GemvFusedCase({ m: 4, n: 29, k: 172 }, "swiglu", { residual: true, bias: true }),
  int4GemvFusedCase({ m: 2, n: 17, k: 4002 }, "swiglu"), // k % 4 != 0: scalar staging
  int4GemvFusedCase({ m: 1, n: 75, k: 2048 }, "none", { residual: true, bias: true }),
  int4GemvFusedCase({ m: 8, n: 16, k: 512 }, "none", { residual: true }),
];

/**
 * Every autotuning candidate at this shape gives the default variant's output bit for bit (the tuner
 * may pick any of them), fused modes included.
 */
function tuneCandidatesCase(
  shape: GemvShape,
  fuse: "norm" | "swiglu" | "none",
  residual: boolean,
): KernelCase {
  const { m, n, k } = shape;
  return {
    name: `int4_gemv tuning candidates bit-identical to the default (${fuse}${residual ? "+residual" : ""}) m=${m} n=${n} k=${k}`,
    async run(device) {
      const seed = m * 31 + n * 7 + k;
      const mat = quantizeInt4(randomNormalF32(n * k, seed, 0.05), n, k);
      const x = uploadBuffer(device, randomF32(m * (fuse === "swiglu" ? 2 * k : k), seed + 1, 3));
      const weights = {
        qweight: uploadBuffer(device, mat.qweight),
        scales: uploadBuffer(device, mat.scales),
      };
      const f: GemvFusion = {
        ...(fuse === "norm"
          ? { norm: { weight: uploadBuffer(device, randomF32(k, seed + 2, 1)), eps: 1e-6 } }
          : {}),
        ...(fuse === "swiglu" ? { swiglu: true } : {}),
        residual,
      };
      const y0 = randomF32(m * n, seed + 3, 1);
      const variants = int4GemvCandidates(device, shape, f);
      const outs: Float32Array[] = [];
      for (const v of variants) {
        const y = guardedOutput(device, m * n);
        device.queue.writeBuffer(y.buffer, 0, y0 as Float32Array<ArrayBuffer>);
        runDispatches(device, [int4Gemv(device, shape, { x, ...weights, y: y.buffer }, v, f)]);
        outs.push(await readGuardedF32(device, y));
      }
      outs.slice(1).forEach((o, i) => {
        const bad = o.findIndex((val, j) => !Object.is(val, outs[0]![j]));
        if (bad >= 0)
          throw new Error(`candidate ${JSON.stringify(variants[i + 1])} differs at output ${bad}`);
      });
      return `${variants.length} candidates`;
    },
  };
}

const tuneCases: KernelCase[] = [
  tuneCandidatesCase({ m: 1, n: 200, k: 2048 }, "norm", false),
  tuneCandidatesCase({ m: 1, n: 300, k: 5632 }, "swiglu", true),
  tuneCandidatesCase({ m: 1, n: 70000, k: 64 }, "none", false), // the lm_head default (tk = 8)
  tuneCandidatesCase({ m: 3, n: 96, k: 1000 }, "none", true),
];

// Every variant the bench may pick, at a small shape with a partial last block and a ragged last
// workgroup (n not a multiple of any rows-per-workgroup).
const BENCH_SHAPES = [
  [4096, 4096],
  [14336, 4096],
  [4096, 14336],
  [128256, 4096],
] as const;
const benchVariants = new Map(
  BENCH_SHAPES.flatMap(([n, k]) => gemvBenchVariants(n, k, "int4")).map((bv) => [bv.name, bv.variant]),
);
const benchVariantCases = [...benchVariants.values()].map((variant) =>
  int4GemvCase({ m: 1, n: 75, k: 1000 }, { variant: variant as Int4GemvVariant, bias: true }),
);

// The bench cases' setup at a small shape: builds and runs without validation errors.
const benchSetupCase: KernelCase = {
  name: "gemv bench cases construct and run (int4 and f16, 96x544)",
  async run(device) {
    const [v4] = gemvBenchVariants(96, 544, "int4");
    const [v16] = gemvBenchVariants(96, 544, "f16");
    runDispatches(device, [
      ...int4GemvBenchCase(96, 544, v4!).setup(device),
      ...denseGemvBenchCase(96, 544, "f16", v16!).setup(device),
    ]);
    await device.queue.onSubmittedWorkDone();
    return undefined;
  },
};

export const int4GemvCases: KernelCase[] = [
  int4GemvCase({ m: 1, n: 5, k: 64 }, { bias: true, smoke: true }),
  int4GemvCase({ m: 2, n: 3, k: 40 }, { smoke: true }),
  // Edge shapes: n = 1, k not a multiple of 32 (kb = 6, last block 12 real weights), ragged n.
  int4GemvCase({ m: 1, n: 1, k: 172 }),
  int4GemvCase({ m: 1, n: 37, k: 172 }, { bias: true }),
  int4GemvCase({ m: 1, n: 1, k: 4096 }, { bias: true }),
  int4GemvCase({ m: 3, n: 50, k: 4096 }, { bias: true }),
  int4GemvCase({ m: 8, n: 19, k: 172 }, { bias: true }),
  int4GemvCase({ m: 8, n: 16, k: 4096 }),
  int4GemvCase({ m: 5, n: 9, k: 33 }),
  // x staged in several chunks, a chunk that is not a multiple of tk, unrolled steps, narrow tk.
  int4GemvCase({ m: 1, n: 40, k: 4096 }, { variant: { chunk: 32 } }),
  int4GemvCase({ m: 2, n: 21, k: 4000 }, { variant: { tk: 16, tr: 2, unroll: 2, chunk: 20 } }),
  int4GemvCase(
    { m: 3, n: 22, k: 3000 },
    { variant: { tk: 16, tr: 2, unroll: 2, chunk: 20, prefetch: false } },
  ),
  int4GemvCase(
    { m: 1, n: 41, k: 4096 },
    { variant: { tk: 32, tr: 8, unroll: 1, chunk: 32, prefetch: false } },
  ),
  int4GemvCase({ m: 1, n: 30, k: 2048 }, { variant: { tk: 8, tr: 4, unroll: 2 }, bias: true }),
  int4GemvCase({ m: 4, n: 13, k: 2048 }, { variant: { tk: 64, tr: 1, unroll: 1 } }),
  int4GemvCase({ m: 8, n: 8, k: 1024 }, { variant: { tk: 4, tr: 1, unroll: 2, chunk: 9 } }),
  // More workgroups than one grid dimension holds (rows from wid.x + wid.y·nwg.x).
  int4GemvCase({ m: 1, n: 4 * 65536 + 3, k: 8 }, { variant: { tk: 1, tr: 1, unroll: 1 }, bias: true }),
  ...fusedCases,
  ...tuneCases,
  ...benchVariantCases,
  benchSetupCase,
];
