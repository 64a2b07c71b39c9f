// Variant "plain" of the decode split pass (attention_decode_split.wgsl, concatenated before this
// file): q is already roped (rope_kv_append ran before) and the caches already hold the new tokens.

@group(0) @binding(2) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> vc: array<vec4<f32>>;

// qs <- q · scaleLog2 for the workgroup's ROWS query rows (row r = t·G + g, head kh·G + g).
fn stageQuery(kh: u32, G: u32, pos0: u32, lid: u32) {
  for (var e = lid; e < ROWS * C4; e += NT) {
    let r = e / C4;
    let c = e % C4;
    let base = p.qOffset + (r / G) * p.qRowStride + (kh * G + r % G) * HD + c * 4u;
    qs[r * PAD4 + c] = loadQ4(base) * p.scaleLog2;
  }
}

fn appendNewKv(kh: u32, start: u32, end: u32, pos0: u32, lid: u32) {}
