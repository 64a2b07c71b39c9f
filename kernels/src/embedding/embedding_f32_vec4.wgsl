// Embedding gather, f32 table, four elements per invocation (dim % 4 == 0):
// out[t][j] = table[ids[id_offset + t]][j]. Workgroups laid out (token, chunk of WG vec4s).
//   ids:   u32, T token ids from element id_offset (written on the GPU by the sampler)
//   table: (vocab, dim4) vec4<f32>, dim4 = dim / 4
//   out:   (tokens, dim4) vec4<f32>
// An id >= vocab reads nothing and writes a zero row.

override WG: u32 = 256u;

struct Params {
  tokens: u32,
  dim4: u32,
  vocab: u32,
  id_offset: u32,
  chunks: u32, // ceil(dim4 / WG)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let t = g / p.chunks;
  if (t >= p.tokens) { return; }
  let j = (g - t * p.chunks) * WG + lid;
  if (j >= p.dim4) { return; }
  let id = ids[p.id_offset + t];
  var v = vec4<f32>(0.0);
  if (id < p.vocab) { v = table[id * p.dim4 + j]; }
  out[t * p.dim4 + j] = v;
}
