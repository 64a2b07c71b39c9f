// Embedding gather, INT4 table (format/int4.ts with n = vocab, k = dim), eight elements (one qweight
// word) per invocation written as two vec4 (dim % 8 == 0, so a word is all inside the row or all
// padding): out[t][k] = (q - 8)·d of row ids[id_offset + t]. Prepended with f16_bits.wgsl (the scale
// widens exactly; (q - 8)·d is then exact). Workgroups laid out (token, chunk of WG words).
//   ids:     u32, T token ids from element id_offset (written on the GPU by the sampler)
//   qweight: (vocab·kb) vec4<u32>, read here as (vocab·kb·4) u32; word w of block b holds
//            k = 32b + 8w + i in bits 4i..4i+3
//   scales:  f16 of block s = row·kb + b in half s of the packed u32 array
//   out:     (tokens, dim / 4) vec4<f32>
// An id >= vocab reads nothing and writes a zero row.

override WG: u32 = 256u;

struct Params {
  tokens: u32,
  dim8: u32, // dim / 8: qweight words per row that hold real weights
  vocab: u32,
  id_offset: u32,
  kb: u32,
  chunks: u32, // ceil(dim8 / WG)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> qweight: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let t = g / p.chunks;
  if (t >= p.tokens) { return; }
  let wi = (g - t * p.chunks) * WG + lid; // word within the row: block wi / 4, word wi % 4
  if (wi >= p.dim8) { return; }
  let id = ids[p.id_offset + t];
  var word = 0x88888888u; // q = 8 everywhere: a zero row
  var d = 0.0;
  if (id < p.vocab) {
    let s = id * p.kb + (wi >> 2u);
    word = qweight[s * 4u + (wi & 3u)];
    d = bitcast<f32>(f16_to_f32_bits((scales[s >> 1u] >> ((s & 1u) * 16u)) & 0xffffu));
  }
  let lo = vec4<i32>(vec4<u32>(word, word >> 4u, word >> 8u, word >> 12u) & vec4<u32>(0xfu)) - 8;
  let hi = vec4<i32>(vec4<u32>(word >> 16u, word >> 20u, word >> 24u, word >> 28u) & vec4<u32>(0xfu)) - 8;
  let o = (t * p.dim8 + wi) * 2u;
  out[o] = vec4<f32>(lo) * d;
  out[o + 1u] = vec4<f32>(hi) * d;
}
