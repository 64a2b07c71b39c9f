// Embedding gather, INT8 table (format/int8.ts with n = vocab, k = dim): out[t][k] = q·d of row
// ids[id_offset + t]. Prepended with f16_bits.wgsl (the scale widens exactly; q·d has ≤ 19
// significant bits, so it is exact). One invocation per qweight word (4 elements), workgroups laid out
// (token, chunk of WG words). Scalar stores only: a gather is one row per token, never the cost.
//   ids:     u32, T token ids from element id_offset (written on the GPU by the sampler)
//   qweight: (vocab·kb·8) u32; byte i of word w of block b is k = 32b + 4w + i as an int8
//   scales:  f16 of block s = row·kb + b in half s of the packed u32 array
//   out:     (tokens, dim) f32; the zero padding past dim is not written
// An id >= vocab reads nothing and writes a zero row.

override WG: u32 = 256u;

struct Params {
  tokens: u32,
  dim: u32,
  vocab: u32,
  id_offset: u32,
  kb: u32,
  words: u32, // qweight words per row that hold real weights, ceil(dim / 4)
  chunks: u32, // ceil(words / WG)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> qweight: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let t = g / p.chunks;
  if (t >= p.tokens) { return; }
  let wi = (g - t * p.chunks) * WG + lid; // word within the row: block wi / 8, word wi % 8
  if (wi >= p.words) { return; }
  let id = ids[p.id_offset + t];
  var word = 0u; // q = 0 everywhere: a zero row
  var d = 0.0;
  if (id < p.vocab) {
    let s = id * p.kb + (wi >> 3u);
    word = qweight[s * 8u + (wi & 7u)];
    d = bitcast<f32>(f16_to_f32_bits((scales[s >> 1u] >> ((s & 1u) * 16u)) & 0xffffu));
  }
  let w = bitcast<i32>(word);
  // extractBits of an i32 sign-extends: the int8 q; f32(q)·d is exact.
  let q = vec4<i32>(extractBits(w, 0u, 8u), extractBits(w, 8u, 8u), extractBits(w, 16u, 8u),
                    extractBits(w, 24u, 8u));
  let v = vec4<f32>(q) * d;
  let base = t * p.dim + wi * 4u;
  let n = min(4u, p.dim - wi * 4u);
  out[base] = v.x;
  if (n > 1u) { out[base + 1u] = v.y; }
  if (n > 2u) { out[base + 2u] = v.z; }
  if (n > 3u) { out[base + 3u] = v.w; }
}
