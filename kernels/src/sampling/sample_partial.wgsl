// Sampling stage 1 of 2: one workgroup per chunk of CHUNK = 4 * WG consecutive tokens. Applies the
// penalties, then writes the chunk's log-sum-exp partial (max z, sum exp(z - max z)) and its best
// K_MAX candidates in the total order of common.wgsl (logit descending, token id ascending), sorted,
// found by a bitonic sort of the chunk in workgroup memory. When greedy (K_MAX = 1 or temperature
// 0) it only writes the chunk's best candidate, to entry 0 of its list.
// Prepended: common.wgsl, bitonic.wgsl.
//
// logits: (V) f32 read as vec4 (binding padded to 16 bytes); counts: (V) u32 (common.wgsl)
// cand:   (P, LIST) vec4<u32>, LIST = max(K_MAX, 2) / 2: list g's entries r = 2i, 2i + 1 are
//         (key, token id) pairs in cand[g * LIST + i], P = ceil(V / CHUNK)
// stats:  (P) vec2<f32> (max z, sum exp(z - max z)) with z = x * inv_temperature

override WG: u32 = 256u;   // power of two
override K_MAX: u32 = 64u; // power of two, <= CHUNK
override CHUNK: u32 = 4u * WG;
override LIST: u32 = max(K_MAX, 2u) / 2u;

struct Shape {
  vocab: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> sp: SamplingParams;
@group(0) @binding(2) var<storage, read> logits: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> counts: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> cand: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec2<f32>>;

var<workgroup> sort_buf: array<vec4<u32>, CHUNK / 2u>; // 2 entries (key, token id) per vec4
var<workgroup> r_m: array<f32, WG>;
var<workgroup> r_s: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= shape.chunks) {
    return;
  }
  let vocab = shape.vocab;
  let inv_t = sp.inv_temperature;
  let greedy = K_MAX == 1u || sp.temperature == 0.0;
  let v = g * WG + lid;
  var x4 = vec4<f32>(0.0);
  if (v * 4u < vocab) {
    x4 = logits[v];
    if (sp.penalize != 0u) {
      let c4 = counts[v];
      x4 = vec4<f32>(penalize(x4.x, c4.x, sp), penalize(x4.y, c4.y, sp), penalize(x4.z, c4.z, sp),
                     penalize(x4.w, c4.w, sp));
    }
  }
  var m = NEG_BIG;
  var s = 0.0;
  var best = vec2<u32>(0u, PAD_IDX);
  var ent: array<vec2<u32>, 4>; // this thread's tokens 4v .. 4v + 3 (padding past V)
  for (var c = 0u; c < 4u; c++) {
    let i = v * 4u + c;
    ent[c] = vec2<u32>(0u, PAD_IDX);
    if (i < vocab) {
      ent[c] = vec2<u32>(f32_key(x4[c]), i);
      let z = x4[c] * inv_t;
      if (z > m) {
        s = s * exp(m - z) + 1.0;
        m = z;
      } else {
        s += exp(z - m);
      }
      if (sort_better(ent[c], best)) {
        best = ent[c];
      }
    }
  }
  r_m[lid] = m;
  r_s[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let om = r_m[lid + h];
      let mm = max(r_m[lid], om);
      r_s[lid] = r_s[lid] * exp(r_m[lid] - mm) + r_s[lid + h] * exp(om - mm);
      r_m[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    stats[g] = vec2<f32>(r_m[0], r_s[0]);
  }

  if (greedy) {
    sort_buf[lid] = vec4<u32>(best, 0u, 0u);
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (lid < h && sort_better(sort_buf[lid + h].xy, sort_buf[lid].xy)) {
        sort_buf[lid] = sort_buf[lid + h];
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      cand[g * LIST] = sort_buf[0];
    }
    return;
  }

  // Block sizes 2 and 4 of the sort in registers (entries 4 lid .. 4 lid + 3), the rest shared.
  let r2 = sort_local(vec4<u32>(ent[0], ent[1]), vec4<u32>(ent[2], ent[3]), 2u, true);
  let r4 = sort_local(r2[0], r2[1], 4u, (lid & 1u) == 0u);
  sort_buf[2u * lid] = r4[0];
  sort_buf[2u * lid + 1u] = r4[1];
  workgroupBarrier();
  sort_desc(8u, CHUNK, lid);
  for (var i = lid; i < LIST; i += WG) {
    cand[g * LIST + i] = sort_buf[i];
  }
}
