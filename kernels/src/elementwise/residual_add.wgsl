// Residual add, scalar (any n): x[i] += y[i] in place.
// Entry `main`:     x += y                      bindings: params, y, x
// Entry `main_out`: x += y and out = x (new)    bindings: params, y, x, out
//   x, y, out: (n) f32; y and out must not alias x.

override WG: u32 = 256u;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  x[i] = x[i] + y[i];
}

@compute @workgroup_size(WG)
fn main_out(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let v = x[i] + y[i];
  x[i] = v;
  out[i] = v;
}
