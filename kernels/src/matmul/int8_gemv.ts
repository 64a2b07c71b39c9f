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
import { f16BitsWgsl } from "../quantize/f16_bits.ts";
import { type GemvShape, gemvNoBias, MAX_GEMV_M } from "./int4_gemv.ts";
import code from "./int8_gemv.wgsl?raw";
import frameCode from "./quant_gemv.wgsl?raw";

export const int8GemvSource: KernelSource = {
  name: "int8_gemv",
  code: `${f16BitsWgsl}\n${frameCode}\n${code}`,
  bindings: [
    "uniform",
    "read-only-storage", // x
    "read-only-storage", // x as vec4
    "read-only-storage", // qweight
    "read-only-storage", // scales
    "read-only-storage", // bias
    "storage", // y
    "read-only-storage", // RMSNorm weight (quant_gemv.wgsl; the INT8 GEMV binds a dummy)
  ],
};

/**
 * Work split of the INT8 GEMV (override constants), int4Gemv's with 16-byte half blocks ("units", 16
 * weights) where INT4 has 16-byte blocks (32 weights): a workgroup of tk·tr threads owns 4·tr rows; tk
 * lanes share each row along K, each thread owns 4 rows and reads `unroll` units of them per step.
 */
export interface Int8GemvVariant {
  /** lanes along K per row (power of two, 1..256) */
  tk: number;
  /** groups of 4 rows per workgroup (rows per workgroup = 4·tr) */
  tr: number;
  /** units (16 k) per thread per step, 1 or 2 */
  unroll: number;
  /**
   * x units (16 k) staged in workgroup memory at a time; 0 = as many as fit (up to all of K) in
   * 16 KiB for m = 1, in the device limit for m > 1.
   */
  chunk: number;
  /** load the next step's weights before this step's math (default true) */
  prefetch?: boolean;
}

/**
 * The default split: int4Gemv's defaults (the same bytes per lane per load, the same rows per
 * workgroup). Not tuned on a GPU yet: the lm_head (n ≥ 65536) is the shape that matters.
 */
export function defaultInt8GemvVariant(shape: GemvShape): Int8GemvVariant {
  if (shape.m > 4) return { tk: 8, tr: 8, unroll: 1, chunk: 0 };
  if (shape.m > 1) return { tk: 16, tr: 8, unroll: 1, chunk: 0 };
  if (shape.n >= 65536) return { tk: 8, tr: 32, unroll: 1, chunk: 0 }; // 128 rows (lm_head)
  if (shape.n >= 12800) return { tk: 16, tr: 16, unroll: 1, chunk: 0 }; // 64 rows
  return { tk: 32, tr: 8, unroll: 1, chunk: 0 }; // 32 rows
}

/**
 * Workgroup memory of an INT8 GEMV: the staged x chunk (64 bytes a unit and x row), the reduction rows,
 * the frame's (unused) norm words.
 */
export function int8GemvWorkgroupBytes(m: number, v: Int8GemvVariant, chunk: number): number {
  return m * chunk * 64 + 4 * v.tr * (v.tk + 1) * 4 + 4 + 32;
}

/** Checks a variant against the shape and device, resolves chunk = 0, returns the override constants. */
export function int8GemvConstants(
  device: GPUDevice,
  shape: GemvShape,
  v: Int8GemvVariant,
  hasBias: boolean,
): Constants {
  const name = "int8_gemv";
  const { m, n, k } = shape;
  if (!Number.isInteger(m) || m < 1 || m > MAX_GEMV_M) throw new Error(`${name}: m = ${m}, must be 1..8`);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(k) || k < 1)
    throw new Error(`${name}: n = ${n}, k = ${k}`);
  if (!Number.isInteger(v.tk) || v.tk < 1 || v.tk > 256 || (v.tk & (v.tk - 1)) !== 0) {
    throw new Error(`${name}: tk = ${v.tk}, must be a power of two ≤ 256`);
  }
  if (!Number.isInteger(v.tr) || v.tr < 1) throw new Error(`${name}: tr = ${v.tr}`);
  const wg = v.tk * v.tr;
  if (wg > device.limits.maxComputeInvocationsPerWorkgroup || wg > device.limits.maxComputeWorkgroupSizeX) {
    throw new Error(`${name}: ${wg} threads per workgroup over the device limit`);
  }
  if (v.unroll !== 1 && v.unroll !== 2) throw new Error(`${name}: unroll = ${v.unroll}, must be 1 or 2`);
  const ku = 2 * ceilDiv(k, 32);
  // Never stage more than the units a pass uses: K rounded up to whole lane strides.
  const maxChunk = ceilDiv(ku, v.tk) * v.tk;
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  const red = int8GemvWorkgroupBytes(m, v, 0);
  let chunk = v.chunk;
  if (chunk === 0) {
    // M = 1 stays within 16 KiB so several workgroups share an SM; m > 1 takes what the device allows.
    const budget = m > 1 ? limit : Math.min(limit, 16384);
    const fit = Math.floor((budget - red) / (m * 64));
    chunk = fit >= v.tk ? fit - (fit % v.tk) : fit;
  }
  chunk = Math.min(chunk, maxChunk);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`${name}: x chunk ${chunk} (x rows too wide)`);
  const bytes = int8GemvWorkgroupBytes(m, v, chunk);
  if (bytes > limit)
    throw new Error(`${name}: ${bytes} B of workgroup memory over the device limit ${limit}`);
  return {
    M: m,
    TK: v.tk,
    TR: v.tr,
    U: v.unroll,
    CHUNK: chunk,
    HAS_BIAS: hasBias ? 1 : 0,
    XV: k % 4 === 0 ? 1 : 0,
    PF: v.prefetch === false ? 0 : 1,
  };
}

/**
 * y = x·Wᵀ (+ bias) for decode (m = 1..8) with INT8 W (src/format/int8.ts); any k ≥ 1, any n ≥ 1.
 * x: (m, k) f32 (also bound as vec4: staged with vec4 loads when k % 4 == 0); qweight: (n·kb·8) u32;
 * scales: (ceil(n·kb/2)) u32; bias: (n) f32 or absent (a 16-byte dummy is bound, HAS_BIAS = false);
 * y: (m, n) f32, may not alias x. m is a pipeline constant: make one dispatch per batch size at load.
 * There is no INT8 GEMM: the runtime stores only the lm_head in INT8, and it runs on one row at a time
 * (the last position when generating, each position in turn for full logits).
 */
export function int8Gemv(
  device: GPUDevice,
  shape: GemvShape,
  io: { x: Binding; qweight: Binding; scales: Binding; bias?: Binding; y: Binding },
  variant: Partial<Int8GemvVariant> = {},
): Dispatch {
  const v = { ...defaultInt8GemvVariant(shape), ...variant };
  const constants = int8GemvConstants(device, shape, v, io.bias !== undefined);
  const ku = 2 * ceilDiv(shape.k, 32);
  const params = uniform(device, "int8_gemv.params", [shape.n, shape.k, ku, { f32: 0 }]); // quant_gemv.wgsl Params
  const dummy = gemvNoBias(device);
  return makeDispatch(
    device,
    int8GemvSource,
    constants,
    [params, io.x, io.x, io.qweight, io.scales, io.bias ?? dummy, io.y, dummy],
    grid1d(device, ceilDiv(shape.n, 4 * v.tr)),
  );
}
