// The shared body of the register-tiled GEMMs (int4_gemm.wgsl, dense_gemm.wgsl), appended to each
// by its descriptor (WGSL has no includes). It expects from the including file: the Params uniform p
// (M, N, K, kb), bindings bias and y, workgroup tiles xs/ws with their swizzle, the overrides
// BM/BN/TM/TN/TX/TY/WG/BM4/BN4/TM4/TN4/HAS_BIAS, and load_block/store_block for its weight format.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  // Each 32-lane group covers 8 tx × 4 ty: one k step's reads are then 8 distinct vec4 of ws and 4
  // of xs (one 128-byte wavefront each), not 16 and 2. Needs TX % 8 == 0, TY % 4 == 0.
  let lane = lid & 31u;
  let group = lid >> 5u;
  let tx = (group % (TX / 8u)) * 8u + (lane & 7u);
  let ty = (group / (TX / 8u)) * 4u + (lane >> 3u);

  // acc[r·TN4 + j]: row r (= 4i + e) of the micro-tile, columns 4·(tx + j·TX) .. +3. TM·TN ≤ 64.
  var acc: array<vec4<f32>, 16>;
  for (var r = 0u; r < 16u; r++) { acc[r] = vec4<f32>(0.0); }

  load_block(0u, m0, n0, lid);
  for (var b = 0u; b < p.kb; b++) {
    workgroupBarrier(); // the previous block's reads are done
    store_block(lid);
    workgroupBarrier();
    if (b + 1u < p.kb) { load_block(b + 1u, m0, n0, lid); }

    // k = 4q + c: the swizzle (k >> 2) & 7 is q, so the xor is done once per 4 k and each k adds
    // a constant offset (an immediate once unrolled).
    for (var q = 0u; q < 8u; q++) {
      var xo: array<u32, 2>;
      var wo: array<u32, 2>;
      for (var i = 0u; i < TM4; i++) { xo[i] = 4u * q * BM4 + ((ty + i * TY) ^ q); }
      for (var j = 0u; j < TN4; j++) { wo[j] = 4u * q * BN4 + ((tx + j * TX) ^ q); }
      for (var c = 0u; c < 4u; c++) {
        var a: array<vec4<f32>, 2>;
        var wv: array<vec4<f32>, 2>;
        for (var i = 0u; i < TM4; i++) { a[i] = xs[xo[i] + c * BM4]; }
        for (var j = 0u; j < TN4; j++) { wv[j] = ws[wo[j] + c * BN4]; }
        for (var i = 0u; i < TM4; i++) {
          for (var e = 0u; e < 4u; e++) {
            let av = vec4<f32>(a[i][e]);
            for (var j = 0u; j < TN4; j++) {
              let r = (4u * i + e) * TN4 + j;
              acc[r] = fma(av, wv[j], acc[r]);
            }
          }
        }
      }
    }
  }

  for (var j = 0u; j < TN4; j++) {
    let n = n0 + 4u * (tx + j * TX);
    var bv = vec4<f32>(0.0);
    if (HAS_BIAS) {
      for (var c = 0u; c < 4u; c++) {
        if (n + c < p.N) { bv[c] = bias[n + c]; }
      }
    }
    for (var i = 0u; i < TM4; i++) {
      for (var e = 0u; e < 4u; e++) {
        let m = m0 + 4u * (ty + i * TY) + e;
        if (m < p.M) {
          let v = acc[(4u * i + e) * TN4 + j] + bv;
          let base = m * p.N + n;
          for (var c = 0u; c < 4u; c++) {
            if (n + c < p.N) { y[base + c] = v[c]; }
          }
        }
      }
    }
  }
}
