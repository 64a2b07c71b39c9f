// Dense GEMM, register-tiled: y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]), W unquantized.
//   x: (M, K) f32 row-major            y: (M, N) f32 row-major            bias: (N) f32
//   w: F16 = false: (N, K) f32 row-major (bound as u32 words, read with bitcast)
//      F16 = true:  (N, K) f16 row-major packed two per u32, element 2i in the low half
//                   (unpack2x16float order); needs K even so every row starts on a word.
//
// Same tiling as int4_gemm.wgsl (see there): a BM×BN tile per workgroup, K walked in steps of 32 with
// the x and W tiles staged k-major in workgroup memory (vec4 column v of row k at v ^ ((k >> 2) & 7),
// conflict-free transposing stores), the next step's global loads held in registers during the
// current step's math, a TM×TN register micro-tile per thread from vec4 outer products.
// Past K, x and W read as 0. BM and BN are multiples of 32.

override BM: u32 = 64u; // multiple of 32
override BN: u32 = 64u; // multiple of 32
override TM: u32 = 4u; // 4 or 8
override TN: u32 = 4u; // 4 or 8
override HAS_BIAS: bool = false;
override F16: bool = false;

override TX: u32 = BN / TN; // threads along n
override TY: u32 = BM / TM; // threads along m
override WG: u32 = TX * TY;
override BM4: u32 = BM / 4u;
override BN4: u32 = BN / 4u;
override TM4: u32 = TM / 4u;
override TN4: u32 = TN / 4u;
// Per thread and step: XT vec4s of x, WT vec4s of W (4 k of one row each).
override XT: u32 = BM * 8u / WG;
override WT: u32 = BN * 8u / WG;
override XS: u32 = BM * 8u; // xs length in vec4: 32 k × BM/4
override WS: u32 = BN * 8u; // ws length in vec4: 32 k × BN/4

struct Params {
  M: u32,
  N: u32,
  K: u32,
  kb: u32, // steps, ceil(K / 32)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (M, K)
@group(0) @binding(2) var<storage, read> w: array<u32>; // (N, K) f32 bits, or (N, K/2) f16 pairs
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (N), read only when HAS_BIAS
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (M, N)

var<workgroup> xs: array<vec4<f32>, XS>; // [k][m/4], swizzled
var<workgroup> ws: array<vec4<f32>, WS>; // [k][n/4], swizzled

// Register staging of the next block (sized for the largest XT/WT the host accepts: 8).
var<private> xr: array<vec4<f32>, 8>;
var<private> wr: array<vec4<f32>, 8>;

fn load_block(b: u32, m0: u32, n0: u32, lid: u32) {
  for (var t = 0u; t < XT; t++) {
    // 8 lanes per row, each 4 consecutive k: a warp reads whole 128-byte row segments.
    let u = lid + t * WG;
    let row = m0 + (u >> 3u);
    let k = b * 32u + (u & 7u) * 4u;
    var v = vec4<f32>(0.0);
    if (row < p.M) {
      let base = row * p.K + k;
      if (k + 3u < p.K) {
        v = vec4<f32>(x[base], x[base + 1u], x[base + 2u], x[base + 3u]);
      } else {
        for (var c = 0u; c < 4u; c++) {
          if (k + c < p.K) { v[c] = x[base + c]; }
        }
      }
    }
    xr[t] = v;
  }
  for (var t = 0u; t < WT; t++) {
    let u = lid + t * WG;
    let row = n0 + (u >> 3u);
    let k = b * 32u + (u & 7u) * 4u;
    var v = vec4<f32>(0.0);
    if (row < p.N) {
      if (F16) {
        // k and K are even: a pair is wholly inside K or wholly past it.
        let base = (row * p.K + k) >> 1u;
        if (k < p.K) { v = vec4<f32>(unpack2x16float(w[base]), v.zw); }
        if (k + 2u < p.K) { v = vec4<f32>(v.xy, unpack2x16float(w[base + 1u])); }
      } else {
        let base = row * p.K + k;
        if (k + 3u < p.K) {
          v = bitcast<vec4<f32>>(vec4<u32>(w[base], w[base + 1u], w[base + 2u], w[base + 3u]));
        } else {
          for (var c = 0u; c < 4u; c++) {
            if (k + c < p.K) { v[c] = bitcast<f32>(w[base + c]); }
          }
        }
      }
    }
    wr[t] = v;
  }
}

fn store_block(lid: u32) {
  for (var t = 0u; t < XT; t++) {
    let u = lid + t * WG;
    let m = u >> 3u;
    let q = u & 7u; // k = 4q + c, so the swizzle (k >> 2) & 7 is q
    let col = (m >> 2u) ^ q;
    let v = xr[t];
    for (var c = 0u; c < 4u; c++) {
      xs[(4u * q + c) * BM4 + col][m & 3u] = v[c];
    }
  }
  for (var t = 0u; t < WT; t++) {
    let u = lid + t * WG;
    let n = u >> 3u;
    let q = u & 7u;
    let col = (n >> 2u) ^ q;
    let v = wr[t];
    for (var c = 0u; c < 4u; c++) {
      ws[(4u * q + c) * BN4 + col][n & 3u] = v[c];
    }
  }
}

// main(): gemm_tile_main.wgsl, appended by dense_gemm.ts.
