import { type Binding, type Dispatch, grid1d, type KernelSource, makeDispatch, uniform } from "../kernel.ts";
import code from "./rmsnorm.wgsl?raw";

export const rmsNormSource: KernelSource = {
  name: "rmsnorm",
  code,
  bindings: ["uniform", "read-only-storage", "read-only-storage", "storage"],
};

export interface RmsNormShape {
  rows: number;
  dim: number;
  eps: number;
}

/** x, out: (rows, dim) f32; weight: (dim) f32. out may not alias x. */
export function rmsNorm(
  device: GPUDevice,
  shape: RmsNormShape,
  io: { x: Binding; weight: Binding; out: Binding },
  variant: { wg?: number } = {},
): Dispatch {
  const wg = variant.wg ?? 256;
  const params = uniform(device, "rmsnorm.params", [shape.rows, shape.dim, { f32: shape.eps }]);
  return makeDispatch(
    device,
    rmsNormSource,
    { WG: wg },
    [params, io.x, io.weight, io.out],
    grid1d(device, shape.rows),
  );
}
