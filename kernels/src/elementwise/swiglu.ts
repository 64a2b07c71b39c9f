import { type Binding, type Dispatch, grid1d, type KernelSource, makeDispatch, uniform } from "../kernel.ts";
import code from "./swiglu.wgsl?raw";
import codeVec4 from "./swiglu_vec4.wgsl?raw";

const bindings = ["uniform", "read-only-storage", "read-only-storage", "storage"] as const;

export const swigluSource: KernelSource = { name: "swiglu", code, bindings };
export const swigluVec4Source: KernelSource = { name: "swiglu_vec4", code: codeVec4, bindings };

export interface SwigluShape {
  tokens: number;
  /** intermediate size I */
  inter: number;
}

/**
 * gate and up either as two buffers, gate, up: (tokens, inter) f32, or as one fused matmul output
 * gateUp: (tokens, 2·inter) f32 whose row t is [gate[t][0..inter), up[t][0..inter)].
 */
export type SwigluInput = { gate: Binding; up: Binding } | { gateUp: Binding };

export interface SwigluVariant {
  /** invocations per workgroup (override WG) */
  wg?: number;
  /** four elements per invocation; default (and only possible) when inter % 4 == 0 */
  vec4?: boolean;
}

/** out[t][i] = silu(gate[t][i]) · up[t][i]; out: (tokens, inter) f32, must not alias the inputs. */
export function swiglu(
  device: GPUDevice,
  shape: SwigluShape,
  io: SwigluInput & { out: Binding },
  variant: SwigluVariant = {},
): Dispatch {
  const wg = variant.wg ?? 256;
  const vec4 = variant.vec4 ?? shape.inter % 4 === 0;
  if (vec4 && shape.inter % 4 !== 0) throw new Error(`swiglu: vec4 needs inter % 4 == 0, got ${shape.inter}`);
  const w = vec4 ? 4 : 1;
  const row = shape.inter / w; // in elements of the bound arrays
  const fused = "gateUp" in io;
  const gate = fused ? io.gateUp : io.gate;
  const up = fused ? io.gateUp : io.up;
  const stride = fused ? 2 * row : row;
  const params = uniform(device, "swiglu.params", [shape.tokens, row, stride, stride, fused ? row : 0]);
  return makeDispatch(
    device,
    vec4 ? swigluVec4Source : swigluSource,
    { WG: wg },
    [params, gate, up, io.out],
    grid1d(device, Math.ceil((shape.tokens * row) / wg)),
  );
}
