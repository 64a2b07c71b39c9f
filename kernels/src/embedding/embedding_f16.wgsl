// Embedding gather, f16 table: out[t][j] = f32(table[ids[id_offset + t]][j]). Prepended with
// f16_bits.wgsl: the widening is exact in integer ops (unpack2x16float may flush f16 subnormals).
// One invocation per table word (two elements), workgroups laid out (token, chunk of WG words).
//   ids:   u32, T token ids from element id_offset (written on the GPU by the sampler)
//   table: (vocab, dim / 2) u32, element 2i of a row in the low half of word i (dim even)
//   out:   (tokens, dim) f32
// An id >= vocab reads nothing and writes a zero row.

override WG: u32 = 256u;

struct Params {
  tokens: u32,
  half_dim: u32, // dim / 2
  vocab: u32,
  id_offset: u32,
  chunks: u32, // ceil(half_dim / WG)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec2<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let t = g / p.chunks;
  if (t >= p.tokens) { return; }
  let j = (g - t * p.chunks) * WG + lid;
  if (j >= p.half_dim) { return; }
  let id = ids[p.id_offset + t];
  var w = 0u;
  if (id < p.vocab) { w = table[id * p.half_dim + j]; }
  out[t * p.half_dim + j] = bitcast<vec2<f32>>(
    vec2<u32>(f16_to_f32_bits(w & 0xffffu), f16_to_f32_bits(w >> 16u)));
}
