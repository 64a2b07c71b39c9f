// GPU INT4 quantizer: row-major (rows, K) weights -> the INT4 layout of src/format/int4.ts, equal to
// quantizeInt4 bit for bit (qweight and scales words). Prepended with f16_bits.wgsl.
// One invocation per pair of consecutive blocks s = 2·pair, 2·pair + 1 (block s = row·kb + b, counted
// over the whole dispatch, so pairs may straddle rows): it writes both vec4 qweight entries and the one
// scales word they share, so no two invocations write the same word.
//   src:     FORMAT 0: f32 bits, element e at src[e]
//            FORMAT 1/2: f16/bf16, two per u32, element e in the low half of src[e >> 1] when e is even
//            element (row, k) is e = in_elem0 + row·K + k
//   qweight: block s at qweight[out_block0 + s]    (vec4<u32>, 8 nibbles per word)
//   scales:  block s in scales[(out_block0 + s) >> 1], low half when out_block0 + s is even
//            (out_block0 must be even)
//   importance: SEARCH only, f32 per input column k (K entries), the scale search's error weights
// SEARCH: the scale search of src/format/int4.ts (candidates d0, ±f16(|d0|·(32+j)/32), least weighted
// squared error, earliest on equal). The error is summed in f32 over x and d scaled by 2^-E (|d0| in
// [2^E, 2^(E+1)), an exact power-of-two scaling), so no square overflows; it can differ from the
// spec's f64 sum in the last bits, so a near-tie between two candidates may resolve either way.

override WG: u32 = 64u;
override FORMAT: u32 = 0u; // 0 f32, 1 f16, 2 bf16
override SEARCH: bool = false;

struct Params {
  rows: u32,
  k: u32,
  kb: u32,
  in_elem0: u32,
  out_block0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> qweight: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> scales: array<u32>;
@group(0) @binding(4) var<storage, read> importance: array<f32>;

// Element e widened exactly to f32 bits, by integer operations only.
fn load_bits(e: u32) -> u32 {
  if (FORMAT == 0u) { return src[e]; }
  let h = (src[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
  if (FORMAT == 1u) { return f16_to_f32_bits(h); }
  return h << 16u;
}

// f32 bits of m / -8, as far as f32_to_f16_bits can tell: exact while the exponent field is > 3; below
// that m / 8 is under 2^-123, far under half the smallest f16 subnormal, so a signed zero rounds the
// same. The sign always flips (m = +0 gives -0, so an all-zero block's scale is 0x8000, as on the CPU).
fn div_minus8_bits(m: u32) -> u32 {
  let flipped = m ^ 0x80000000u;
  let e = (m >> 23u) & 0xffu;
  if (e == 0xffu) { return flipped; }
  if (e > 3u) { return flipped - (3u << 23u); }
  return flipped & 0x80000000u;
}

// What quantize_value needs of a scale d (f16 bits, not ±0).
struct Level {
  ad_bits: u32, // |d| as f32 bits (an f32 normal: f16 subnormals widen to normals)
  ad: f32,
  inv: f32,
  sat: u32, // 16·|d| in bits: any |x| at or above it gives n = 8 (Inf included)
  d_neg: bool,
}

fn level_of(dh: u32) -> Level {
  let ad_bits = f16_to_f32_bits(dh & 0x7fffu);
  let ad = bitcast<f32>(ad_bits);
  return Level(ad_bits, ad, 1.0 / ad, ad_bits + (4u << 23u), (dh & 0x8000u) != 0u);
}

// q = clamp(round_half_away(x / d) + 8, 0, 15) = 8 ± n, n = round_half_away(|x| / |d|) capped at 8:
// the largest n ≤ 8 with n == 0 or (2n - 1)·|d| ≤ 2·|x|. Those products have ≤ 4 + 11 significant
// bits and 2·|x| is a doubling, so the comparisons are exact; the estimate |x|·(1/|d|) (a few ulps
// off) is within one of n and one correction step settles it. d = ±0 gives 8 for every x.
fn quantize_value(v: u32, l: Level) -> u32 {
  if (l.ad_bits == 0u) { return 8u; }
  let a = v & 0x7fffffffu;
  // Clamped in bits so no float op sees Inf; subnormal |x| (< 2^-126 < |d|/2) gives n = 0 flushed or not.
  let ax = bitcast<f32>(min(a, l.sat));
  var n = u32(min(floor(ax * l.inv + 0.5), 8.0));
  let ax2 = ax + ax;
  if (n > 0u && ax2 < f32(2u * n - 1u) * l.ad) {
    n -= 1u;
  } else if (n < 8u && ax2 >= f32(2u * n + 1u) * l.ad) {
    n += 1u;
  }
  let neg = ((v >> 31u) == 1u) != l.d_neg; // the sign of x / d
  let q = select(min(8u + n, 15u), 8u - n, neg);
  // NaN: the CPU's q is NaN, stored into a Uint8Array as 0.
  return select(q, 0u, a > 0x7f800000u);
}

// Σ imp·(x − (q − 8)·d)² for scale dh, in units of 2^E (scale = 2^-E, exact).
fn scaled_error(x: ptr<function, array<u32, 32>>, dh: u32, k0: u32, len: u32, scale: f32) -> f32 {
  let l = level_of(dh);
  let d = select(l.ad, -l.ad, l.d_neg) * scale;
  var e = 0.0;
  for (var i = 0u; i < len; i++) {
    let v = (*x)[i];
    let r = bitcast<f32>(v) * scale - (f32(quantize_value(v, l)) - 8.0) * d;
    e += importance[k0 + i] * r * r;
  }
  return e;
}

// The scale search: d0 = dh (not ±0, not saturated, all x finite), then ±f16(|d0|·(32 + j)/32).
fn search_scale(x: ptr<function, array<u32, 32>>, dh: u32, k0: u32, len: u32) -> u32 {
  let ad0_bits = f16_to_f32_bits(dh & 0x7fffu);
  let ad0 = bitcast<f32>(ad0_bits);
  let scale = bitcast<f32>((254u - ((ad0_bits >> 23u) & 0xffu)) << 23u); // 2^-E
  var best = dh;
  var best_e = scaled_error(x, dh, k0, len, scale);
  for (var s = 0u; s < 2u; s++) {
    let sign = (dh & 0x8000u) ^ (s << 15u);
    for (var j = 0; j <= 18; j++) {
      if (j == 8 && s == 0u) { continue; }
      // |d0|·(24 + j)/32: ≤ 17 significant bits, exact in f32 (and with a fused multiply-add).
      let c = sign | f32_to_f16_bits(bitcast<u32>(ad0 * f32(24 + j) * 0.03125));
      let e = scaled_error(x, c, k0, len, scale);
      if (e < best_e) {
        best = c;
        best_e = e;
      }
    }
  }
  return best;
}

// Quantizes block s; writes its qweight vec4 and returns its f16 scale bits.
fn quantize_block(s: u32) -> u32 {
  let row = s / p.kb;
  let b = s - row * p.kb;
  let len = min(32u, p.k - 32u * b);
  let e0 = p.in_elem0 + row * p.k + 32u * b;
  let k0 = 32u * b;

  // m: the element of largest magnitude, the first on ties. Magnitudes compare as bit patterns (exact,
  // subnormals included, whatever the float unit flushes); NaN never wins, as `>` is false on the CPU.
  var x: array<u32, 32>;
  var best = 0u;
  var m = 0u;
  var finite = true;
  for (var i = 0u; i < 32u; i++) {
    var v = 0u; // zero padding past K
    if (i < len) { v = load_bits(e0 + i); }
    x[i] = v;
    let a = v & 0x7fffffffu;
    finite = finite && a < 0x7f800000u;
    if (a > best && a <= 0x7f800000u) {
      best = a;
      m = v;
    }
  }
  let dh = f32_to_f16_bits(div_minus8_bits(m));
  let out = p.out_block0 + s;
  if ((dh & 0x7fffu) == 0u) {
    qweight[out] = vec4<u32>(0x88888888u);
    return dh;
  }

  var dq = dh;
  if (SEARCH && finite && (dh & 0x7fffu) != 0x7bffu) { dq = search_scale(&x, dh, k0, len); }
  var words = vec4<u32>(0u);
  let lv = level_of(dq);
  for (var i = 0u; i < 32u; i++) {
    words[i >> 3u] |= quantize_value(x[i], lv) << ((i & 7u) * 4u);
  }
  qweight[out] = words;
  return dq;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pair = gid.x + gid.y * nwg.x * WG;
  let nblocks = p.rows * p.kb;
  let s0 = 2u * pair;
  if (s0 >= nblocks) { return; }
  let h0 = quantize_block(s0);
  var h1 = 0u; // an odd last block leaves the high half zero, as packHalves does
  if (s0 + 1u < nblocks) { h1 = quantize_block(s0 + 1u); }
  scales[(p.out_block0 + s0) >> 1u] = h0 | (h1 << 16u);
}
