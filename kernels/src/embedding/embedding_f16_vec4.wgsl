// Embedding gather, f16 table, eight elements (one vec4<u32> of the table) per invocation
// (dim % 8 == 0): out[t][j] = f32(table[ids[id_offset + t]][j]). Prepended with f16_bits.wgsl: the
// widening is exact in integer ops (unpack2x16float may flush f16 subnormals).
// Workgroups laid out (token, chunk of WG table vec4s).
//   ids:   u32, T token ids from element id_offset (written on the GPU by the sampler)
//   table: (vocab, dim / 8) vec4<u32>, element 2i of a row in the low half of u32 word i
//   out:   (tokens, dim / 4) vec4<f32>
// An id >= vocab reads nothing and writes a zero row.

override WG: u32 = 256u;

struct Params {
  tokens: u32,
  dim8: u32, // dim / 8
  vocab: u32,
  id_offset: u32,
  chunks: u32, // ceil(dim8 / WG)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

fn widen2(w: u32) -> vec2<u32> {
  return vec2<u32>(f16_to_f32_bits(w & 0xffffu), f16_to_f32_bits(w >> 16u));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let t = g / p.chunks;
  if (t >= p.tokens) { return; }
  let j = (g - t * p.chunks) * WG + lid;
  if (j >= p.dim8) { return; }
  let id = ids[p.id_offset + t];
  var w = vec4<u32>(0u);
  if (id < p.vocab) { w = table[id * p.dim8 + j]; }
  let o = (t * p.dim8 + j) * 2u;
  out[o] = bitcast<vec4<f32>>(vec4<u32>(widen2(w.x), widen2(w.y)));
  out[o + 1u] = bitcast<vec4<f32>>(vec4<u32>(widen2(w.z), widen2(w.w)));
}
