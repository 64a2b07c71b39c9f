// Embedding gather, INT4 table (format/int4.ts with n = vocab, k = dim): out[t][k] = (q - 8)·d of row
// ids[id_offset + t]. Prepended with f16_bits.wgsl (the scale widens exactly; (q - 8)·d is then exact).
// One invocation per qweight word (8 elements), workgroups laid out (token, chunk of WG words).
//   ids:     u32, T token ids from element id_offset (written on the GPU by the sampler)
//   qweight: (vocab·kb) vec4<u32>, read here as (vocab·kb·4) u32; word w of block b holds
//            k = 32b + 8w + i in bits 4i..4i+3
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
  chunks: u32, // ceil(kb·4 / WG)
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
  let wi = (g - t * p.chunks) * WG + lid; // word within the row: block wi / 4, word wi % 4
  let k0 = wi * 8u;
  if (k0 >= p.dim) { return; }
  let id = ids[p.id_offset + t];
  var word = 0x88888888u; // q = 8 everywhere: a zero row
  var d = 0.0;
  if (id < p.vocab) {
    let s = id * p.kb + (wi >> 2u);
    word = qweight[s * 4u + (wi & 3u)];
    d = bitcast<f32>(f16_to_f32_bits((scales[s >> 1u] >> ((s & 1u) * 16u)) & 0xffffu));
  }
  let base = t * p.dim + k0;
  let n = min(8u, p.dim - k0);
  for (var i = 0u; i < n; i++) {
    out[base + i] = f32(i32((word >> (i * 4u)) & 0xfu) - 8) * d;
  }
}
