// RMSNorm: out[r][i] = x[r][i] / sqrt(mean_i(x[r][i]^2) + eps) * weight[i]
// One workgroup per row; x, out: (rows, dim) f32; weight: (dim) f32.

override WG: u32 = 256u;

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  // Four loads in flight per step (a loop with one load a step waits one memory round trip per
  // element: 6.6 µs for one 2048-wide row on an H100); each lane still sums i = lid, lid + WG, ... in
  // order, the order the GEMVs' norm prologue reproduces (quant_gemv.wgsl).
  let dim = p.dim;
  let last = base + dim - 1u;
  var ss = 0.0;
  for (var i = lid; i < dim; i += 4u * WG) {
    let a = x[base + i];
    let b = x[min(base + i + WG, last)];
    let c = x[min(base + i + 2u * WG, last)];
    let d = x[min(base + i + 3u * WG, last)];
    ss += a * a;
    if (i + WG < dim) { ss += b * b; }
    if (i + 2u * WG < dim) { ss += c * c; }
    if (i + 3u * WG < dim) { ss += d * d; }
  }
  partial[lid] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(partial[0] / f32(p.dim) + p.eps);
  for (var i = lid; i < dim; i += 4u * WG) {
    let i1 = min(i + WG, dim - 1u);
    let i2 = min(i + 2u * WG, dim - 1u);
    let i3 = min(i + 3u * WG, dim - 1u);
    let a = x[base + i];
    let b = x[base + i1];
    let c = x[base + i2];
    let d = x[base + i3];
    let wa = weight[i];
    let wb = weight[i1];
    let wc = weight[i2];
    let wd = weight[i3];
    out[base + i] = a * inv * wa;
    if (i + WG < dim) { out[base + i1] = b * inv * wb; }
    if (i + 2u * WG < dim) { out[base + i2] = c * inv * wc; }
    if (i + 3u * WG < dim) { out[base + i3] = d * inv * wd; }
  }
}
