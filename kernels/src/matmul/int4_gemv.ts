import {
  type Binding,
  type Constants,
  ceilDiv,
  type Dispatch,
  grid1d,
  type KernelSource,
  makeDispatch,
  uniform,
} from "../kernel.ts";
import code from "./int4_gemv.wgsl?raw";
import commonCode from "./int4_gemv_common.wgsl?raw";
import q8Code from "./int4_gemv_q8.wgsl?raw";
import frameCode from "./quant_gemv.wgsl?raw";

/** The frame of the quantized GEMVs and the INT4 side; each INT4 kernel file adds its math. */
const int4Code = (math: string): string => `${frameCode}\n${commonCode}\n${math}`;

export const int4GemvSource: KernelSource = {
  name: "int4_gemv",
  code: int4Code(code),
  bindings: [
    "uniform",
    "read-only-storage", // x
    "read-only-storage", // x as vec4
    "read-only-storage", // qweight
    "read-only-storage", // scales
    "read-only-storage", // bias
    "storage", // y
    "read-only-storage", // RMSNorm weight (norm prologue)
  ],
};

/** The same GEMV with x rounded to 8 bits per block of 32 and integer dot products (int4_gemv_q8.wgsl). */
export const int4GemvQ8Source: KernelSource = {
  ...int4GemvSource,
  name: "int4_gemv_q8",
  code: int4Code(q8Code),
};

/**
 * The arithmetic of an INT4 GEMV: `f32` multiplies exactly dequantized weights by f32 x; `q8` rounds x
 * to 8 bits per block of 32 (d = max|x|/127) and sums integer products (4 per dot4I8Packed).
 */
export type Int4GemvMath = "f32" | "q8";

/**
 * What a decode GEMV folds in around x·Wᵀ, each saving a dispatch and a pass over memory:
 * `norm`: x is the raw residual stream, staged as RMSNorm(x)·weight (the rmsnorm kernel's result);
 * `swiglu`: x is the fused (m, 2k) gate_up, staged as silu(gate)·up;
 * `residual`: y += the result instead of y = (y is the residual stream).
 */
export interface GemvFusion {
  norm?: { weight: Binding; eps: number };
  swiglu?: boolean;
  residual?: boolean;
}

/** Decode matrix-vector shape: y (m, n) = x (m, k) · Wᵀ with W (n, k); m = 1..8 sequences. */
export interface GemvShape {
  /** rows of x and y (sequences decoded together), 1..8 */
  m: number;
  /** rows of W, columns of y (outputs) */
  n: number;
  /** columns of x and W (inputs) */
  k: number;
}

/**
 * Work split of the dense GEMV (override constants): a workgroup of tk·tr threads owns tr·rpt rows;
 * tk lanes share each row along K, each lane reading `unroll` vec4s of all its rpt rows per step.
 */
export interface GemvVariant {
  /** lanes along K per row (power of two, 1..256) */
  tk: number;
  /** row groups per workgroup */
  tr: number;
  /** rows per thread, 1..8 */
  rpt: number;
  /** vec4s (4 f32 or 8 f16 weights) per lane per step, 1..4 */
  unroll: number;
}

/**
 * Work split of the INT4 GEMV (override constants): a workgroup of tk·tr threads owns 4·tr rows; tk
 * lanes share each row along K, and each thread owns 4 rows and reads `unroll` blocks of them per step.
 */
export interface Int4GemvVariant {
  /** lanes along K per row (power of two, 1..256) */
  tk: number;
  /** groups of 4 rows per workgroup (rows per workgroup = 4·tr) */
  tr: number;
  /** blocks of 32 k per thread per step, 1 or 2 */
  unroll: number;
  /**
   * x blocks (32 k) staged in workgroup memory at a time; 0 = as many as fit (up to all of K) in
   * 16 KiB for m = 1, in the device limit for m > 1. More means fewer barriers, fewer means more
   * workgroups per SM.
   */
  chunk: number;
  /** load the next step's weights before this step's math (default true) */
  prefetch?: boolean;
}

export const MAX_GEMV_M = 8;

function checkShape(name: string, shape: GemvShape): void {
  const { m, n, k } = shape;
  if (!Number.isInteger(m) || m < 1 || m > MAX_GEMV_M) throw new Error(`${name}: m = ${m}, must be 1..8`);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(k) || k < 1)
    throw new Error(`${name}: n = ${n}, k = ${k}`);
}

function checkThreads(device: GPUDevice, name: string, tk: number, tr: number): void {
  if (!Number.isInteger(tk) || tk < 1 || tk > 256 || (tk & (tk - 1)) !== 0) {
    throw new Error(`${name}: tk = ${tk}, must be a power of two ≤ 256`);
  }
  if (!Number.isInteger(tr) || tr < 1) throw new Error(`${name}: tr = ${tr}`);
  const wg = tk * tr;
  if (wg > device.limits.maxComputeInvocationsPerWorkgroup || wg > device.limits.maxComputeWorkgroupSizeX) {
    throw new Error(`${name}: ${wg} threads per workgroup over the device limit`);
  }
}

/** Checks the shape and the dense GEMV's variant (rpt·m ≤ 64 and rpt·unroll ≤ 32: its register arrays). */
export function checkGemvVariant(device: GPUDevice, name: string, shape: GemvShape, v: GemvVariant): void {
  checkShape(name, shape);
  checkThreads(device, name, v.tk, v.tr);
  if (!Number.isInteger(v.rpt) || v.rpt < 1 || v.rpt > 8)
    throw new Error(`${name}: rpt = ${v.rpt}, must be 1..8`);
  if (!Number.isInteger(v.unroll) || v.unroll < 1 || v.unroll > 4) {
    throw new Error(`${name}: unroll = ${v.unroll}, must be 1..4`);
  }
}

/**
 * The default INT4 split. Measured at M = 1 on an H100 and an H200 (Dawn/Vulkan, 2026-11-21; the
 * work-split sweep bench/cases/gemv-sweep.ts): more rows per workgroup stage x fewer times per weight
 * byte, but n = 4096 needs 32-row workgroups to give every SM work; 128-256 threads, 4 rows a thread,
 * one block a step with the next step prefetched. A function of the shape only (never of the device):
 * TK sets the summation order, so every device computes the same bits.
 */
export function defaultInt4GemvVariant(shape: GemvShape): Int4GemvVariant {
  // m > 1 is compute-bound (one FMA per weight per x row): narrower tk keeps lanes busy in the smaller
  // x chunks that m rows of x allow.
  if (shape.m > 4) return { tk: 8, tr: 8, unroll: 1, chunk: 0 };
  if (shape.m > 1) return { tk: 16, tr: 8, unroll: 1, chunk: 0 };
  if (shape.n >= 65536) return { tk: 8, tr: 32, unroll: 1, chunk: 0 }; // 128 rows (lm_head)
  // gate_up: 128 rows from k = 4096 on (Llama-3.1-8B: 10% faster than 64), 64 below
  if (shape.n >= 12800)
    return shape.k >= 4096 ? { tk: 8, tr: 32, unroll: 1, chunk: 0 } : { tk: 16, tr: 16, unroll: 1, chunk: 0 };
  // down (k ≥ 8192 over a narrow n): 8-row workgroups, 64 lanes along K, so n = 2048..4096 still
  // gives 2-4 workgroups per SM (Llama-3.2-1B down 27%, Llama-3.1-8B down 24% faster than 32 rows).
  // The same for n < 2048 from k = 2048 (Qwen2.5-0.5B down, 896 × 4864: 28 workgroups of 32 rows
  // took 11.6 µs, 112 of 8 rows 8.2 µs; its decode step −4%, f32 and q8, H100, session 7). Below
  // k = 2048 (SmolLM2, Qwen's qkv and o) the 8- and 16-row splits made the step slower.
  if (shape.k >= 8192 || (shape.n < 2048 && shape.k >= 2048)) return { tk: 64, tr: 2, unroll: 1, chunk: 0 };
  return { tk: 32, tr: 8, unroll: 1, chunk: 0 }; // 32 rows
}

/** Workgroup memory per staged x block: f32 (q8: and its two vec4<u32> of bytes, d and 8·Σq). */
const int4GemvBlockBytes = (math: Int4GemvMath): number => (math === "q8" ? 168 : 128);

/** Workgroup memory of an INT4 GEMV: the staged x chunk, the reduction rows, the norm partials. */
export function int4GemvWorkgroupBytes(
  m: number,
  v: Int4GemvVariant,
  chunk: number,
  norm = false,
  math: Int4GemvMath = "f32",
): number {
  const perBlock = int4GemvBlockBytes(math);
  return m * chunk * perBlock + 4 * v.tr * (v.tk + 1) * 4 + (norm ? 256 * 4 : 4) + 32;
}

/** Checks a variant against the shape and device, resolves chunk = 0, returns the override constants. */
export function int4GemvConstants(
  device: GPUDevice,
  shape: GemvShape,
  v: Int4GemvVariant,
  hasBias: boolean,
  fuse: GemvFusion = {},
  math: Int4GemvMath = "f32",
): Constants {
  const name = "int4_gemv";
  checkShape(name, shape);
  checkThreads(device, name, v.tk, v.tr);
  if (v.unroll !== 1 && v.unroll !== 2) throw new Error(`${name}: unroll = ${v.unroll}, must be 1 or 2`);
  const kb = ceilDiv(shape.k, 32);
  // Never stage more than the blocks a pass uses: K rounded up to whole lane strides.
  const maxChunk = ceilDiv(kb, v.tk) * v.tk;
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  const norm = fuse.norm !== undefined;
  if (norm && fuse.swiglu) throw new Error(`${name}: a norm and a swiglu prologue together`);
  const red = int4GemvWorkgroupBytes(shape.m, v, 0, norm, math);
  const perBlock = int4GemvBlockBytes(math);
  let chunk = v.chunk;
  if (chunk === 0) {
    // M = 1 stays within 16 KiB so several workgroups share an SM; m > 1 takes what the device allows.
    const budget = shape.m > 1 ? limit : Math.min(limit, 16384);
    const fit = Math.floor((budget - red) / (shape.m * perBlock));
    chunk = fit >= v.tk ? fit - (fit % v.tk) : fit;
  }
  chunk = Math.min(chunk, maxChunk);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`${name}: x chunk ${chunk} (x rows too wide)`);
  const bytes = int4GemvWorkgroupBytes(shape.m, v, chunk, norm, math);
  if (bytes > limit)
    throw new Error(`${name}: ${bytes} B of workgroup memory over the device limit ${limit}`);
  return {
    M: shape.m,
    TK: v.tk,
    TR: v.tr,
    U: v.unroll,
    CHUNK: chunk,
    HAS_BIAS: hasBias ? 1 : 0,
    XV: shape.k % 4 === 0 ? 1 : 0,
    PF: v.prefetch === false ? 0 : 1,
    XMODE: norm ? 1 : fuse.swiglu ? 2 : 0,
    RESID: fuse.residual ? 1 : 0,
  };
}

const dummies = new WeakMap<GPUDevice, GPUBuffer>();

/** A 16-byte storage buffer bound in place of an absent bias (the kernels never read it then). */
export function gemvNoBias(device: GPUDevice): GPUBuffer {
  let b = dummies.get(device);
  if (!b) {
    b = device.createBuffer({ label: "gemv.nobias", size: 16, usage: GPUBufferUsage.STORAGE });
    dummies.set(device, b);
  }
  return b;
}

/**
 * y = x·Wᵀ (+ bias) for decode (m = 1..8) with INT4 W (src/format/int4.ts); any k ≥ 1, any n ≥ 1.
 * x: (m, k) f32 (also bound as vec4: staged with vec4 loads when k % 4 == 0); qweight: (n·kb·4) u32;
 * scales: (ceil(n·kb/2)) u32; bias: (n) f32 or absent (then a 16-byte dummy is bound and HAS_BIAS =
 * false); y: (m, n) f32, may not alias x. m is a pipeline constant: make one dispatch per batch size at
 * load time. `fuse` folds an RMSNorm or SwiGLU prologue and a residual epilogue in (GemvFusion; x is
 * then (m, 2k) for swiglu).
 */
export function int4Gemv(
  device: GPUDevice,
  shape: GemvShape,
  io: { x: Binding; qweight: Binding; scales: Binding; bias?: Binding; y: Binding },
  variant: Partial<Int4GemvVariant> = {},
  fuse: GemvFusion = {},
  math: Int4GemvMath = "f32",
): Dispatch {
  const v = { ...defaultInt4GemvVariant(shape), ...variant };
  const constants = int4GemvConstants(device, shape, v, io.bias !== undefined, fuse, math);
  const kb = ceilDiv(shape.k, 32);
  const params = uniform(device, "int4_gemv.params", [shape.n, shape.k, kb, { f32: fuse.norm?.eps ?? 0 }]);
  const dummy = gemvNoBias(device);
  return makeDispatch(
    device,
    math === "q8" ? int4GemvQ8Source : int4GemvSource,
    constants,
    [params, io.x, io.x, io.qweight, io.scales, io.bias ?? dummy, io.y, fuse.norm?.weight ?? dummy],
    grid1d(device, ceilDiv(shape.n, 4 * v.tr)),
  );
}
