// GPU INT8 quantizer: row-major (rows, K) weights -> the INT8 layout of src/format/int8.ts, equal to
// quantizeInt8 bit for bit (qweight and scales words). Prepended with f16_bits.wgsl.
// One invocation per pair of consecutive blocks s = 2·pair, 2·pair + 1 (block s = row·kb + b, counted
// over the whole dispatch, so pairs may straddle rows): it writes both blocks' two vec4 and the one
// scales word they share, so no two invocations write the same word.
//   src:     FORMAT 0: f32 bits, element e at src[e]
//            FORMAT 1/2: f16/bf16, two per u32, element e in the low half of src[e >> 1] when e is even
//            element (row, k) is e = in_elem0 + row·K + k
//   qweight: block s at qweight[2·(out_block0 + s)] and the next vec4 (32 int8, byte i of word w is
//            k = 32b + 4w + i)
//   scales:  block s in scales[(out_block0 + s) >> 1], low half when out_block0 + s is even
//            (out_block0 must be even)
// Every rounding is decided by an exact comparison, never by a float division or pack2x16float (WGSL
// leaves both inexact or implementation-defined): the scale's f16 rounding (ties to even) by comparing
// the block maximum with 127·(the midpoints of f16 neighbours), each q's rounding (ties away from
// zero) by comparing 2|x| with (2n ± 1)·d. Those products have ≤ 20 significant bits: exact in f32.

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

const SAT_BITS = 0x4afde040u; // 127·65504 = 8319008.0: at or above, d saturates to 65504 (0x7bff)

// Element e widened exactly to f32 bits, by integer operations only.
fn load_bits(e: u32) -> u32 {
  if (FORMAT == 0u) { return src[e]; }
  let h = (src[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
  if (FORMAT == 1u) { return f16_to_f32_bits(h); }
  return h << 16u;
}

fn f16_value(h: u32) -> f32 {
  return bitcast<f32>(f16_to_f32_bits(h));
}

// f16 bits of d = f16(a / 127) for a = the block maximum's magnitude bits (finite or Inf, never NaN).
// The estimate a·(1/127) is within one f16 step of the answer; one exact comparison each way settles it.
// An f32-subnormal a (flushed or not) is far below 127·2^-25, the first midpoint: d = 0 either way.
fn scale_bits(a_bits: u32) -> u32 {
  if (a_bits >= SAT_BITS) { return 0x7bffu; }
  let a = bitcast<f32>(a_bits);
  let h = f32_to_f16_bits(bitcast<u32>(a * (1.0 / 127.0)));
  let v = f16_value(h);
  if (h < 0x7bffu) {
    let up = (v + f16_value(h + 1u)) * 0.5 * 127.0;
    if (a > up || (a == up && (h & 1u) == 1u)) { return h + 1u; }
  }
  if (h > 0u) {
    let down = (f16_value(h - 1u) + v) * 0.5 * 127.0;
    if (a < down || (a == down && (h & 1u) == 1u)) { return h - 1u; }
  }
  return h;
}

// What quantize_value needs of a scale d (f16 bits, ≥ 0).
struct Level {
  ad_bits: u32, // d as f32 bits (an f32 normal: f16 subnormals widen to normals), 0 when d == 0
  ad: f32,
  inv: f32,
  sat: u32, // 128·d in bits: any |x| at or above it gives n = 127 (Inf included)
}

fn level_of(dh: u32) -> Level {
  let ad_bits = f16_to_f32_bits(dh);
  let ad = bitcast<f32>(ad_bits);
  return Level(ad_bits, ad, 1.0 / ad, ad_bits + (7u << 23u));
}

// The byte of q = clamp(round_half_away(x / d), -127, 127) = ±n: n = round_half_away(|x| / d) capped
// at 127, the largest n ≤ 127 with n == 0 or (2n - 1)·d ≤ 2·|x|. The estimate |x|·(1/d) (a few ulps
// off) is within one of n and one correction step settles it. d == 0 and NaN give 0.
fn quantize_value(v: u32, l: Level) -> u32 {
  let a = v & 0x7fffffffu;
  if (l.ad_bits == 0u || a > 0x7f800000u) { return 0u; }
  // Clamped in bits so no float op sees Inf; subnormal |x| (< 2^-126 < d/2) gives n = 0 flushed or not.
  let ax = bitcast<f32>(min(a, l.sat));
  var n = u32(min(floor(ax * l.inv + 0.5), 127.0));
  let ax2 = ax + ax;
  if (n > 0u && ax2 < f32(2u * n - 1u) * l.ad) {
    n -= 1u;
  } else if (n < 127u && ax2 >= f32(2u * n + 1u) * l.ad) {
    n += 1u;
  }
  return select(n, (256u - n) & 0xffu, (v >> 31u) == 1u); // two's complement; -0 gives 0
}

// Quantizes block s; writes its two qweight vec4 and returns its f16 scale bits.
fn quantize_block(s: u32) -> u32 {
  let row = s / p.kb;
  let b = s - row * p.kb;
  let len = min(32u, p.k - 32u * b);
  let e0 = p.in_elem0 + row * p.k + 32u * b;

  // a: the largest magnitude, compared as bit patterns (exact, subnormals included, whatever the float
  // unit flushes); NaN is skipped, Inf counts.
  var x: array<u32, 32>;
  var amax = 0u;
  for (var i = 0u; i < 32u; i++) {
    var v = 0u; // zero padding past K
    if (i < len) { v = load_bits(e0 + i); }
    x[i] = v;
    let a = v & 0x7fffffffu;
    if (a > amax && a <= 0x7f800000u) { amax = a; }
  }
  let dh = scale_bits(amax);
  let lv = level_of(dh);
  var lo = vec4<u32>(0u);
  var hi = vec4<u32>(0u);
  for (var i = 0u; i < 16u; i++) {
    lo[i >> 2u] |= quantize_value(x[i], lv) << ((i & 3u) * 8u);
    hi[i >> 2u] |= quantize_value(x[i + 16u], lv) << ((i & 3u) * 8u);
  }
  let o = 2u * (p.out_block0 + s);
  qweight[o] = lo;
  qweight[o + 1u] = hi;
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
