// GEMV work-split sweep at the decode GEMVs of Llama-3.2-1B and Llama-3.1-8B: the INT4 ones each with
// the fusion the model runs it with (RMSNorm prologue for qkv and gate_up, residual epilogue for o,
// SwiGLU prologue + residual for down), and the INT8 lm_head. Unlike the tuner's candidates this varies TK too, so variants are not
// bit-identical to each other: it is the data for choosing the per-shape default. Only with --sweep
// (bench/main.ts): `node dist/bench.mjs --sweep [filter]`.
import { int4Bytes } from "../../src/format/int4.ts";
import { int8Bytes } from "../../src/format/int8.ts";
import type { Dispatch } from "../../src/kernel.ts";
import { type GemvFusion, type Int4GemvVariant, int4Gemv } from "../../src/matmul/int4_gemv.ts";
import { type Int8GemvVariant, int8Gemv } from "../../src/matmul/int8_gemv.ts";
import type { BenchCase } from "../case.ts";
import { anyWord, f16PairWord, f32Word, patternBuffer } from "./gemv.ts";

type Fuse = "norm" | "resid" | "swiglu+resid";

const SHAPES: [string, number, number, Fuse][] = [
  ["1b.qkv", 3072, 2048, "norm"],
  ["1b.o", 2048, 2048, "resid"],
  ["1b.gate_up", 16384, 2048, "norm"],
  ["1b.down", 2048, 8192, "swiglu+resid"],
  ["8b.qkv", 6144, 4096, "norm"],
  ["8b.o", 4096, 4096, "resid"],
  ["8b.gate_up", 28672, 4096, "norm"],
  ["8b.down", 4096, 14336, "swiglu+resid"],
];

/** The INT8 lm_head of Llama-3.2-1B and Llama-3.1-8B (vocab × hidden). */
const LM_HEADS: [string, number, number][] = [
  ["1b.lm_head", 128256, 2048],
  ["8b.lm_head", 128256, 4096],
];

/**
 * tk × tr with 64..256 threads, unroll 1 and 2 (a first sweep on an H200 found 512 threads and
 * tk ≥ 128 slower at every shape here).
 */
export function sweepVariants(): Int4GemvVariant[] {
  const out: Int4GemvVariant[] = [];
  for (const tk of [8, 16, 32, 64])
    for (const wg of [64, 128, 256]) {
      const tr = wg / tk;
      if (tr < 1) continue;
      for (const unroll of [1, 2]) out.push({ tk, tr, unroll, chunk: 0 });
    }
  return out;
}

const variantLabel = (v: Int4GemvVariant | Int8GemvVariant): string => `tk${v.tk} tr${v.tr} u${v.unroll}`;

// Every variant of a shape reads the same buffers (copies rotate: see bench/main.ts), made once.
const made = new WeakMap<
  GPUDevice,
  Map<string, { x: GPUBuffer; qweight: GPUBuffer; scales: GPUBuffer; y: GPUBuffer; normw: GPUBuffer }>
>();

/** blockBytes: 16 for INT4 weights, 32 for INT8. */
function buffers(device: GPUDevice, n: number, k: number, copy: number, blockBytes = 16) {
  let perDevice = made.get(device);
  if (!perDevice) {
    perDevice = new Map();
    made.set(device, perDevice);
  }
  const key = `${n}x${k}x${blockBytes}#${copy}`;
  let b = perDevice.get(key);
  if (!b) {
    const kb = Math.ceil(k / 32);
    b = {
      x: patternBuffer(device, 8 * k, f32Word, k + copy),
      qweight: patternBuffer(device, n * kb * blockBytes, anyWord, n + k + copy),
      scales: patternBuffer(device, Math.ceil((n * kb) / 2) * 4, f16PairWord, 3 * n + k + copy),
      y: patternBuffer(device, 4 * n, f32Word, n + copy),
      normw: patternBuffer(device, 4 * k, f32Word, 5 * k + copy),
    };
    perDevice.set(key, b);
  }
  return b;
}

function sweepCase(label: string, n: number, k: number, fuse: Fuse, v: Int4GemvVariant): BenchCase {
  let calls = 0;
  const xBytes = fuse === "swiglu+resid" ? 8 * k : 4 * k;
  return {
    name: `sweep int4_gemv ${label} ${n}x${k} ${fuse}`,
    variant: variantLabel(v),
    bytes: int4Bytes(n, k) + xBytes + (fuse === "norm" ? 4 * k + 4 * n : 8 * n),
    flops: 2 * n * k,
    setup(device: GPUDevice): Dispatch[] {
      const b = buffers(device, n, k, calls++ % 8); // bench/main.ts makes at most 8 copies
      const f: GemvFusion =
        fuse === "norm"
          ? { norm: { weight: b.normw, eps: 1e-5 } }
          : fuse === "resid"
            ? { residual: true }
            : { swiglu: true, residual: true };
      return [
        int4Gemv(device, { m: 1, n, k }, { x: b.x, qweight: b.qweight, scales: b.scales, y: b.y }, v, f),
      ];
    },
  };
}

function lmHeadCase(label: string, n: number, k: number, v: Int8GemvVariant): BenchCase {
  let calls = 0;
  return {
    name: `sweep int8_gemv ${label} ${n}x${k}`,
    variant: variantLabel(v),
    bytes: int8Bytes(n, k) + 4 * k + 4 * n,
    flops: 2 * n * k,
    setup(device: GPUDevice): Dispatch[] {
      const b = buffers(device, n, k, calls++ % 8, 32);
      return [int8Gemv(device, { m: 1, n, k }, { x: b.x, qweight: b.qweight, scales: b.scales, y: b.y }, v)];
    },
  };
}

export const gemvSweepCases: BenchCase[] = [
  ...SHAPES.flatMap(([label, n, k, fuse]) => sweepVariants().map((v) => sweepCase(label, n, k, fuse, v))),
  ...LM_HEADS.flatMap(([label, n, k]) =>
    sweepVariants()
      .filter((v) => v.unroll === 1 && v.tk <= 32 && v.tk * v.tr >= 128)
      .map((v) => lmHeadCase(label, n, k, v)),
  ),
];
