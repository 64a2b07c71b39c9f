import { type Binding, ceilDiv, type Dispatch, type KernelSource, makeDispatch, uniform } from "../kernel.ts";
import formatCode from "./dense_gemm.wgsl?raw";
import tileMain from "./gemm_tile_main.wgsl?raw";
import {
  defaultGemmTile,
  dummyStorage,
  type GemmShape,
  type GemmTile,
  gemmGrid,
  gemmTileConstants,
} from "./int4_gemm.ts";

export const denseGemmSource: KernelSource = {
  name: "dense_gemm",
  code: `${formatCode}\n${tileMain}`,
  bindings: ["uniform", "read-only-storage", "read-only-storage", "read-only-storage", "storage"],
};

/** How W is stored: f32, or f16 packed two per u32 (element 2i in the low half; K must be even). */
export type DenseWeightFormat = "f32" | "f16";

/**
 * y = x·Wᵀ (+ bias) with unquantized W.
 * x: (m, k) f32; w: (n, k) f32, or (n, k) f16 packed as (n·k/2) u32 (k even); bias: (n) f32 or
 * absent; y: (m, n) f32, may not alias x.
 */
export function denseGemm(
  device: GPUDevice,
  shape: GemmShape,
  format: DenseWeightFormat,
  io: { x: Binding; w: Binding; bias?: Binding; y: Binding },
  tile: GemmTile = defaultGemmTile(device, shape.m),
): Dispatch {
  const { m, n, k } = shape;
  if (format === "f16" && k % 2 !== 0) throw new Error(`dense_gemm f16: K must be even, got ${k}`);
  const constants = {
    ...gemmTileConstants(device, tile, 8),
    HAS_BIAS: io.bias ? 1 : 0,
    F16: format === "f16" ? 1 : 0,
  };
  const params = uniform(device, "dense_gemm.params", [m, n, k, ceilDiv(k, 32)]);
  return makeDispatch(
    device,
    denseGemmSource,
    constants,
    [params, io.x, io.w, io.bias ?? dummyStorage(device), io.y],
    gemmGrid(device, m, n, tile),
  );
}
