// Decode GEMV at Llama-3-8B shapes (M = 1): INT4 q/k/v/o-sized, gate/up, down and lm_head, plus the
// f16 lm_head of a tied-embedding model. Each shape is timed with every variant of gemvBenchVariants;
// the first one listed is the kernel's default.
import { rng } from "@wisp/gpu-test";
import { f32ToF16Bits } from "../../src/format/f16.ts";
import { blocksPerRow, int4Bytes } from "../../src/format/int4.ts";
import type { Dispatch } from "../../src/kernel.ts";
import {
  type DenseWeightType,
  defaultDenseGemvVariant,
  denseGemv,
  denseWeightBytes,
} from "../../src/matmul/dense_gemv.ts";
import {
  defaultInt4GemvVariant,
  type GemvVariant,
  type Int4GemvMath,
  type Int4GemvVariant,
  int4Gemv,
} from "../../src/matmul/int4_gemv.ts";
import type { BenchCase } from "../case.ts";

export type GemvKind = "int4" | DenseWeightType;

export interface GemvBenchVariant {
  /** label: the variant's override constants */
  name: string;
  variant: GemvVariant | Int4GemvVariant;
  /** INT4 only: the arithmetic (default f32) */
  math?: Int4GemvMath;
}

const label = (v: GemvVariant | Int4GemvVariant): string =>
  "chunk" in v
    ? `tk${v.tk} tr${v.tr} u${v.unroll} chunk${v.chunk || "auto"}${v.prefetch === false ? " nopf" : ""}`
    : `tk${v.tk} tr${v.tr} rpt${v.rpt} u${v.unroll}`;

/**
 * Candidate splits for an M = 1 GEMV of W (n, k), the default first (3–8 of them). Rows per workgroup
 * (INT4: 4·tr) trade workgroup count (n = 4096 needs 32-row workgroups to give 132 SMs work) against x
 * staging per weight byte; unroll, prefetch and rows per thread set the 16-byte loads in flight per
 * thread; INT4 chunk 256 stages all of K ≤ 8192 at once (up to 36 KiB of workgroup memory), "auto"
 * fits 16 KiB. Every candidate is also a test case (test/cases/int4_gemv.ts, dense_gemv.ts).
 */
export function gemvBenchVariants(n: number, k: number, kind: GemvKind = "int4"): GemvBenchVariant[] {
  const shape = { m: 1, n, k };
  const list: (GemvVariant | Int4GemvVariant)[] =
    kind === "int4"
      ? [
          defaultInt4GemvVariant(shape),
          { tk: 8, tr: 32, unroll: 1, chunk: 0 },
          { tk: 16, tr: 16, unroll: 1, chunk: 0 },
          { tk: 16, tr: 16, unroll: 2, chunk: 0 },
          { tk: 32, tr: 8, unroll: 1, chunk: 0 },
          { tk: 32, tr: 8, unroll: 2, chunk: 0 },
          { tk: 32, tr: 8, unroll: 1, chunk: 256 },
          { tk: 32, tr: 8, unroll: 1, chunk: 0, prefetch: false },
        ]
      : [
          defaultDenseGemvVariant(shape),
          { tk: 32, tr: 8, rpt: 4, unroll: 1 },
          { tk: 32, tr: 8, rpt: 2, unroll: 2 },
          { tk: 64, tr: 4, rpt: 2, unroll: 2 },
          { tk: 32, tr: 2, rpt: 4, unroll: 1 },
          { tk: 128, tr: 2, rpt: 4, unroll: 1 },
        ];
  const seen = new Set<string>();
  const out: GemvBenchVariant[] = [];
  for (const variant of list) {
    const name = label(variant);
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ name, variant });
  }
  return out;
}

const PATTERN_BYTES = 16 << 20;

/** A storage buffer of `bytes` (rounded up to 16) filled with a seeded pattern of at most 16 MiB, repeated. */
export function patternBuffer(
  device: GPUDevice,
  bytes: number,
  word: (r: () => number) => number,
  seed: number,
) {
  const size = Math.ceil(bytes / 16) * 16;
  const buffer = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const r = rng(seed);
  const pattern = new Uint32Array(Math.min(size, PATTERN_BYTES) / 4);
  for (let i = 0; i < pattern.length; i++) pattern[i] = word(r);
  for (let off = 0; off < size; off += pattern.byteLength) {
    device.queue.writeBuffer(buffer, off, pattern, 0, Math.min(pattern.length, (size - off) / 4));
  }
  return buffer;
}

// Never zero, never NaN/Inf: random f32 in ±[0.01, 1), random f16 pairs in ±[2^-9, 2^-2).
export const f32Word = (r: () => number): number => {
  const v = (0.01 + r() * 0.99) * (r() < 0.5 ? -1 : 1);
  return new Uint32Array(new Float32Array([v]).buffer)[0]!;
};
const f16 = (r: () => number): number => f32ToF16Bits((2 ** -9 + r() * 0.24) * (r() < 0.5 ? -1 : 1));
export const f16PairWord = (r: () => number): number => (f16(r) | (f16(r) << 16)) >>> 0;
export const anyWord = (r: () => number): number => Math.floor(r() * 2 ** 32) >>> 0;

export function int4GemvBenchCase(n: number, k: number, v: GemvBenchVariant): BenchCase {
  const kb = blocksPerRow(k);
  return {
    name: `int4_gemv ${n}x${k}`,
    variant: v.name,
    bytes: int4Bytes(n, k) + 4 * k + 4 * n,
    flops: 2 * n * k,
    setup(device: GPUDevice): Dispatch[] {
      const x = patternBuffer(device, 4 * k, f32Word, k);
      const qweight = patternBuffer(device, n * kb * 16, anyWord, n + k);
      const scales = patternBuffer(device, Math.ceil((n * kb) / 2) * 4, f16PairWord, n * 3 + k);
      const y = device.createBuffer({ size: 4 * n, usage: GPUBufferUsage.STORAGE });
      return [
        int4Gemv(device, { m: 1, n, k }, { x, qweight, scales, y }, v.variant as Int4GemvVariant, {}, v.math),
      ];
    },
  };
}

export function denseGemvBenchCase(
  n: number,
  k: number,
  type: DenseWeightType,
  v: GemvBenchVariant,
): BenchCase {
  const wBytes = denseWeightBytes(n, k, type);
  return {
    name: `${type}_gemv ${n}x${k}`,
    variant: v.name,
    bytes: wBytes + 4 * k + 4 * n,
    flops: 2 * n * k,
    setup(device: GPUDevice): Dispatch[] {
      const x = patternBuffer(device, 4 * k, f32Word, k);
      const w = patternBuffer(device, wBytes, type === "f16" ? f16PairWord : f32Word, n + k);
      const y = device.createBuffer({ size: 4 * n, usage: GPUBufferUsage.STORAGE });
      return [denseGemv(device, { m: 1, n, k }, type, { x, w, y }, v.variant)];
    },
  };
}

const INT4_SHAPES: [number, number][] = [
  [4096, 4096], // q/o projection
  [14336, 4096], // gate/up
  [4096, 14336], // down
  [128256, 4096], // lm_head
];

export const gemvBenchCases: BenchCase[] = [
  ...INT4_SHAPES.flatMap(([n, k]) => gemvBenchVariants(n, k, "int4").map((v) => int4GemvBenchCase(n, k, v))),
  ...gemvBenchVariants(128256, 4096, "f16").map((v) => denseGemvBenchCase(128256, 4096, "f16", v)),
];

// q8 math (8-bit x, integer dot products) against the f32 default at the decode shapes of
// Llama-3.2-1B (qkv, o, gate_up, down) and Llama-3.1-8B (qkv, gate_up fused): splits with more rows per
// workgroup amortize the per-workgroup quantization of x.
const Q8_SHAPES: [number, number][] = [
  [3072, 2048],
  [2048, 2048],
  [16384, 2048],
  [2048, 8192],
  [6144, 4096],
  [4096, 4096],
  [28672, 4096],
  [4096, 14336],
];
const Q8_SPLITS: Int4GemvVariant[] = [
  { tk: 8, tr: 32, unroll: 1, chunk: 0 },
  { tk: 16, tr: 16, unroll: 1, chunk: 0 },
  { tk: 32, tr: 8, unroll: 1, chunk: 0 },
  { tk: 16, tr: 8, unroll: 1, chunk: 0 },
  { tk: 64, tr: 2, unroll: 1, chunk: 0 },
  { tk: 64, tr: 4, unroll: 1, chunk: 0 },
  { tk: 32, tr: 4, unroll: 1, chunk: 0 },
];

export function q8BenchVariants(n: number, k: number): GemvBenchVariant[] {
  const def = defaultInt4GemvVariant({ m: 1, n, k });
  return [
    { name: label(def), variant: def },
    { name: `q8 ${label(def)}`, variant: def, math: "q8" },
    ...Q8_SPLITS.filter((v) => label(v) !== label(def)).map(
      (v): GemvBenchVariant => ({ name: `q8 ${label(v)}`, variant: v, math: "q8" }),
    ),
  ];
}

export const q8BenchCases: BenchCase[] = Q8_SHAPES.flatMap(([n, k]) =>
  q8BenchVariants(n, k).map((v) => ({ ...int4GemvBenchCase(n, k, v), name: `q8 int4_gemv ${n}x${k}` })),
);
