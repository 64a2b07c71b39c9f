// SwiGLU, scalar: out[t][i] = silu(gate[t][i]) · up[t][i], silu(x) = x / (1 + exp(-x)).
// One invocation per output element; any `inter`.
//   gate: rows of `gate_stride` f32, the gate of token t at gate[t·gate_stride + i]
//   up:   rows of `up_stride` f32, the up of token t at up[t·up_stride + up_offset + i]
//   out:  (tokens, inter) f32
// Two buffers: strides = inter, up_offset = 0. One fused gate_up (tokens, 2·inter) buffer bound to
// both gate and up: strides = 2·inter, up_offset = inter (read-only bindings may alias).

override WG: u32 = 256u;

struct Params {
  tokens: u32,
  inter: u32,
  gate_stride: u32,
  up_stride: u32,
  up_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Stable for any |x|: exp only ever sees -|x| (no overflow, which WGSL leaves indeterminate), and
// for x < 0 the form x·e/(1+e) equals x/(1+exp(-x)) without forming exp(|x|).
fn silu(x: f32) -> f32 {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(x * e * r, x * r, x >= 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= p.tokens * p.inter) { return; }
  let t = idx / p.inter;
  let i = idx - t * p.inter;
  out[idx] = silu(gate[t * p.gate_stride + i]) * up[t * p.up_stride + p.up_offset + i];
}
