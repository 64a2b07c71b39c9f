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
import code from "./dense_gemv.wgsl?raw";
import { checkGemvVariant, type GemvShape, type GemvVariant, gemvNoBias } from "./int4_gemv.ts";

export const denseGemvSource: KernelSource = {
  name: "dense_gemv",
  code,
  bindings: [
    "uniform",
    "read-only-storage", // x
    "read-only-storage", // x as vec4
    "read-only-storage", // w
    "read-only-storage", // w as vec4
    "read-only-storage", // bias
    "storage", // y
  ],
};

/** Weight storage of a dense GEMV: f32, or f16 packed two per u32 (element 2i in the low half). */
export type DenseWeightType = "f32" | "f16";

/** Whether rows start on 16-byte boundaries, so the kernel reads whole vec4s (else single elements). */
export const denseGemvVectorized = (k: number, type: DenseWeightType): boolean =>
  k % (type === "f16" ? 8 : 4) === 0;

/** Bytes of W as the kernel reads it (f16: whole u32 words). */
export const denseWeightBytes = (n: number, k: number, type: DenseWeightType): number =>
  type === "f16" ? Math.ceil((n * k) / 2) * 4 : n * k * 4;

/** The default split: 32 rows a workgroup for wide matrices (lm_head), 8 for narrow ones. */
export function defaultDenseGemvVariant(shape: GemvShape): GemvVariant {
  if (shape.m > 4) return { tk: 32, tr: 4, rpt: 2, unroll: 1 };
  if (shape.m > 1) return { tk: 32, tr: 4, rpt: 2, unroll: 1 };
  if (shape.n >= 32768) return { tk: 32, tr: 8, rpt: 4, unroll: 1 };
  return { tk: 32, tr: 2, rpt: 4, unroll: 1 };
}

export function denseGemvConstants(
  device: GPUDevice,
  shape: GemvShape,
  type: DenseWeightType,
  v: GemvVariant,
  hasBias: boolean,
): Constants {
  checkGemvVariant(device, "dense_gemv", shape, v);
  const bytes = v.tr * v.rpt * (v.tk + 1) * 4;
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  if (bytes > limit)
    throw new Error(`dense_gemv: ${bytes} B of workgroup memory over the device limit ${limit}`);
  const wBytes = denseWeightBytes(shape.n, shape.k, type);
  if (wBytes > device.limits.maxStorageBufferBindingSize) {
    throw new Error(
      `dense_gemv: W is ${wBytes} B, over maxStorageBufferBindingSize; split N into several calls`,
    );
  }
  return {
    M: shape.m,
    TK: v.tk,
    TR: v.tr,
    RPT: v.rpt,
    U: v.unroll,
    F16: type === "f16" ? 1 : 0,
    VEC: denseGemvVectorized(shape.k, type) ? 1 : 0,
    HAS_BIAS: hasBias ? 1 : 0,
  };
}

/**
 * y = x·Wᵀ (+ bias) for decode (m = 1..8) with unquantized W; any n ≥ 1, any k ≥ 1 (f16 odd k too).
 * x: (m, k) f32; w: (n, k) f32, or f16 packed two per u32 over the flat array (element 2i in the low
 * half), at least 16 bytes; bias: (n) f32 or absent (then a 16-byte dummy is bound and HAS_BIAS =
 * false); y: (m, n) f32, may not alias x. x and w are also bound as vec4 arrays; rows are read as whole
 * vec4s when k % 4 == 0 (f32) or k % 8 == 0 (f16), element by element otherwise (slow; small models).
 */
export function denseGemv(
  device: GPUDevice,
  shape: GemvShape,
  type: DenseWeightType,
  io: { x: Binding; w: Binding; bias?: Binding; y: Binding },
  variant: Partial<GemvVariant> = {},
): Dispatch {
  const v = { ...defaultDenseGemvVariant(shape), ...variant };
  const constants = denseGemvConstants(device, shape, type, v, io.bias !== undefined);
  const params = uniform(device, "dense_gemv.params", [shape.n, shape.k]);
  return makeDispatch(
    device,
    denseGemvSource,
    constants,
    [params, io.x, io.x, io.w, io.w, io.bias ?? gemvNoBias(device), io.y],
    grid1d(device, ceilDiv(shape.n, v.tr * v.rpt)),
  );
}
