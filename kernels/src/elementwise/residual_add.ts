import { type Binding, type Dispatch, grid1d, type KernelSource, makeDispatch, uniform } from "../kernel.ts";
import code from "./residual_add.wgsl?raw";
import codeVec4 from "./residual_add_vec4.wgsl?raw";

const inPlace = ["uniform", "read-only-storage", "storage"] as const;
const withOut = ["uniform", "read-only-storage", "storage", "storage"] as const;

export const residualAddSource: KernelSource = { name: "residual_add", code, bindings: inPlace };
export const residualAddOutSource: KernelSource = {
  name: "residual_add",
  code,
  entryPoint: "main_out",
  bindings: withOut,
};
export const residualAddVec4Source: KernelSource = {
  name: "residual_add_vec4",
  code: codeVec4,
  bindings: inPlace,
};
export const residualAddOutVec4Source: KernelSource = {
  name: "residual_add_vec4",
  code: codeVec4,
  entryPoint: "main_out",
  bindings: withOut,
};

export interface ResidualAddVariant {
  /** invocations per workgroup (override WG) */
  wg?: number;
  /** four elements per invocation; default (and only possible) when n % 4 == 0, else one per invocation */
  vec4?: boolean;
}

/**
 * The residual stream update x[i] += y[i], in place; x, y: (n) f32.
 * With `out`, the same pass also writes the new x to out: (n) f32, saving the copy pass when the
 * caller needs the stream in a second buffer (e.g. the final hidden state read back, or kept while x
 * goes on). Out-of-place out = x + y with x unchanged is not offered: it moves the same bytes as the
 * in-place form. y and out must not alias x.
 */
export function residualAdd(
  device: GPUDevice,
  shape: { n: number },
  io: { x: Binding; y: Binding; out?: Binding },
  variant: ResidualAddVariant = {},
): Dispatch {
  const wg = variant.wg ?? 256;
  const vec4 = variant.vec4 ?? shape.n % 4 === 0;
  if (vec4 && shape.n % 4 !== 0) throw new Error(`residualAdd: vec4 needs n % 4 == 0, got ${shape.n}`);
  const count = vec4 ? shape.n / 4 : shape.n;
  const params = uniform(device, "residual_add.params", [count]);
  const src = io.out
    ? vec4
      ? residualAddOutVec4Source
      : residualAddOutSource
    : vec4
      ? residualAddVec4Source
      : residualAddSource;
  const buffers = io.out ? [params, io.y, io.x, io.out] : [params, io.y, io.x];
  return makeDispatch(device, src, { WG: wg }, buffers, grid1d(device, Math.ceil(count / wg)));
}
