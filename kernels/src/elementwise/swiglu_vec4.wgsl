// SwiGLU, vec4: out[t][i] = silu(gate[t][i]) · up[t][i] on four elements per invocation.
// Needs inter % 4 == 0 (then every row start and the fused up offset are vec4-aligned); all fields
// below are in vec4 units.
//   gate: rows of `gate_stride` vec4, the gate of token t at gate[t·gate_stride + i]
//   up:   rows of `up_stride` vec4, the up of token t at up[t·up_stride + up_offset + i]
//   out:  (tokens, inter4) vec4<f32>
// Two buffers: strides = inter4, up_offset = 0. One fused gate_up (tokens, 2·inter) buffer bound to
// both gate and up: strides = 2·inter4, up_offset = inter4.

override WG: u32 = 256u;

struct Params {
  tokens: u32,
  inter4: u32,
  gate_stride: u32,
  up_stride: u32,
  up_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> up: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

// See swiglu.wgsl: exp only sees -|x|, so no overflow for any input.
fn silu(x: vec4<f32>) -> vec4<f32> {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(x * e * r, x * r, x >= vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= p.tokens * p.inter4) { return; }
  let t = idx / p.inter4;
  let i = idx - t * p.inter4;
  out[idx] = silu(gate[t * p.gate_stride + i]) * up[t * p.up_stride + p.up_offset + i];
}
