// INT4 weight-only GEMM, register-tiled: y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]).
//   x: (M, K) f32 row-major            y: (M, N) f32 row-major            bias: (N) f32
//   qweight: (N·kb·4) u32, scales: (ceil(N·kb/2)) u32 of packed f16 — the layout of src/format/int4.ts
//
// One workgroup computes a BM×BN tile of y and walks K one quant block (BK = 32) at a time: it stages
// the x tile and the dequantized W tile (as f32, so each weight is dequantized once per workgroup
// instead of once per use) in workgroup memory, then each thread accumulates a TM×TN micro-tile in
// registers from vec4 outer products. The next block's global loads go to registers before the
// current block's math, so one staging buffer still hides their latency; they stay raw (scales too)
// until store_block, since any op on a loaded value would wait for the load right there.
//
// Workgroup memory is k-major, 32 rows of BM/4 (resp. BN/4) vec4, so one k step reads whole vec4s
// along m and n. The vec4 column v of row k is stored at v ^ ((k >> 2) & 7): the transposing stores
// (neighbouring lanes walk k) then hit 32 distinct banks, and the reads (neighbouring lanes walk v at
// one k) stay conflict-free. This needs BM and BN to be multiples of 32.
//
// Thread (tx, ty) owns rows m0 + 4·(ty + i·TY) + e and columns n0 + 4·(tx + j·TX) + c
// (i < TM/4, j < TN/4, e, c < 4): strided vec4 groups, so the lanes of one read touch consecutive vec4s.
// Padded K (the last block past K) reads x as 0 and the weight padding is q = 8, i.e. 0.

override BM: u32 = 64u; // multiple of 32
override BN: u32 = 64u; // multiple of 32
override TM: u32 = 4u; // 4 or 8
override TN: u32 = 4u; // 4 or 8
override HAS_BIAS: bool = false;

override TX: u32 = BN / TN; // threads along n
override TY: u32 = BM / TM; // threads along m
override WG: u32 = TX * TY;
override BM4: u32 = BM / 4u;
override BN4: u32 = BN / 4u;
override TM4: u32 = TM / 4u;
override TN4: u32 = TN / 4u;
// Per thread and block: XT vec4s of x (4 k of one row), WT qweight words (8 k of one row).
override XT: u32 = BM * 8u / WG;
override WT: u32 = BN * 4u / WG;
override XS: u32 = BM * 8u; // xs length in vec4: 32 k × BM/4
override WS: u32 = BN * 8u; // ws length in vec4: 32 k × BN/4

struct Params {
  M: u32,
  N: u32,
  K: u32,
  kb: u32, // blocks per row, ceil(K / 32)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (M, K)
@group(0) @binding(2) var<storage, read> qweight: array<u32>; // (N, kb, 4)
@group(0) @binding(3) var<storage, read> scales: array<u32>; // (ceil(N·kb/2)) f16 pairs
@group(0) @binding(4) var<storage, read> bias: array<f32>; // (N), read only when HAS_BIAS
@group(0) @binding(5) var<storage, read_write> y: array<f32>; // (M, N)

var<workgroup> xs: array<vec4<f32>, XS>; // [k][m/4], swizzled
var<workgroup> ws: array<vec4<f32>, WS>; // [k][n/4], swizzled

// Register staging of the next block (sized for the largest XT/WT the host accepts: 8).
var<private> xr: array<vec4<f32>, 8>;
var<private> qr: array<u32, 8>;
var<private> dr: array<u32, 8>; // the word holding the row's f16 scale, raw: decoded in store_block
var<private> hr: array<u32, 8>; // the scale's bit offset in that word (0 or 16)

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
    // 4 lanes per weight row read its 16-byte block; its scale is one broadcast word.
    let u = lid + t * WG;
    let row = n0 + (u >> 2u);
    var q = 0u;
    var d = 0u; // rows past N: scale 0
    var h = 0u;
    if (row < p.N) {
      let s = row * p.kb + b;
      q = qweight[s * 4u + (u & 3u)];
      d = scales[s >> 1u];
      h = (s & 1u) * 16u;
    }
    qr[t] = q;
    dr[t] = d;
    hr[t] = h;
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
    let n = u >> 2u;
    let w = u & 3u; // word w holds k = 8w + i
    let q = qr[t];
    let d = unpack2x16float(dr[t] >> hr[t]).x;
    for (var i = 0u; i < 8u; i++) {
      let k = 8u * w + i;
      let val = (f32((q >> (4u * i)) & 15u) - 8.0) * d;
      ws[k * BN4 + ((n >> 2u) ^ ((k >> 2u) & 7u))][n & 3u] = val;
    }
  }
}

// main(): gemm_tile_main.wgsl, appended by int4_gemm.ts.
