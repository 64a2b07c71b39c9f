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

override WG: u32 = 64u;
override FORMAT: u32 = 0u; // 0 f32, 1 f16, 2 bf16

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

// Quantizes block s; writes its qweight vec4 and returns its f16 scale bits.
fn quantize_block(s: u32) -> u32 {
  let row = s / p.kb;
  let b = s - row * p.kb;
  let len = min(32u, p.k - 32u * b);
  let e0 = p.in_elem0 + row * p.k + 32u * b;

  // m: the element of largest magnitude, the first on ties. Magnitudes compare as bit patterns (exact,
  // subnormals included, whatever the float unit flushes); NaN never wins, as `>` is false on the CPU.
  var x: array<u32, 32>;
  var best = 0u;
  var m = 0u;
  for (var i = 0u; i < 32u; i++) {
    var v = 0u; // zero padding past K
    if (i < len) { v = load_bits(e0 + i); }
    x[i] = v;
    let a = v & 0x7fffffffu;
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

  // q = clamp(round_half_away(x / d) + 8, 0, 15) = 8 ± n, n = round_half_away(|x| / |d|) capped at 8:
  // the largest n ≤ 8 with n == 0 or (2n - 1)·|d| ≤ 2·|x|. Those products have ≤ 4 + 11 significant
  // bits and 2·|x| is a doubling, so the comparisons are exact; the estimate |x|·(1/|d|) (a few ulps
  // off) is within one of n and one correction step settles it.
  let ad_bits = f16_to_f32_bits(dh & 0x7fffu); // an f32 normal: f16 subnormals widen to normals
  let ad = bitcast<f32>(ad_bits);
  let inv = 1.0 / ad;
  let sat = ad_bits + (4u << 23u); // 16·|d|: any |x| at or above it gives n = 8 (Inf included)
  let d_neg = (dh & 0x8000u) != 0u;
  var words = vec4<u32>(0u);
  for (var i = 0u; i < 32u; i++) {
    let v = x[i];
    let a = v & 0x7fffffffu;
    // Clamped in bits so no float op sees Inf; subnormal |x| (< 2^-126 < |d|/2) gives n = 0 flushed or not.
    let ax = bitcast<f32>(min(a, sat));
    var n = u32(min(floor(ax * inv + 0.5), 8.0));
    let ax2 = ax + ax;
    if (n > 0u && ax2 < f32(2u * n - 1u) * ad) {
      n -= 1u;
    } else if (n < 8u && ax2 >= f32(2u * n + 1u) * ad) {
      n += 1u;
    }
    let neg = ((v >> 31u) == 1u) != d_neg; // the sign of x / d
    var q = select(min(8u + n, 15u), 8u - n, neg);
    // NaN: the CPU's q is NaN, stored into a Uint8Array as 0.
    q = select(q, 0u, a > 0x7f800000u);
    words[i >> 3u] |= q << ((i & 7u) * 4u);
  }
  qweight[out] = words;
  return dh;
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
