// INT4 weight-only GEMV for decode: y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]), M = 1..8, with f32
// math. int4_gemv.ts concatenates quant_gemv.wgsl (the work split, the RMSNorm prologue, the main
// loop, the x staging loop and the lane sums: read it first), int4_gemv_common.wgsl (the INT4
// format, the SwiGLU prologue, the x swizzle) and this file (the math).
//
// Dequantization without int->float conversions (quarter rate on NVIDIA). OR-ing a nibble that sits at
// bit 4p into the mantissa of 2^23 gives exactly 2^23 + q·16^p (for 4p + 4 <= 23); subtracting
// 2^23 + 8·16^p leaves (q - 8)·16^p exactly. x is multiplied by 16^-p (exact) when it is staged, so
// each FMA adds (q - 8)·x with a single rounding. Nibbles 0..4 are used in place, 5..7 after one shift
// by 12 (p = 2, 3, 4). Per weight: one AND/OR (a LOP3), one FSUB, and one FMA per row of x. The block
// sum is multiplied by the f16 scale once per block.

const MAGIC = 0x4b000000u; // 2^23 as f32 bits
// 16^-p for the 8 x of one word: elements 0..3 (p = 0, 1, 2, 3), then 4..7 (p = 4, 2, 3, 4).
const X_LO = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);
const X_HI = vec4<f32>(0.0000152587890625, 0.00390625, 0.000244140625, 0.0000152587890625);

// The 8 weights of one word of the 4 rows, dequantized as (q - 8)·16^p.
struct Deq {
  d0: vec4<f32>,
  d1: vec4<f32>,
  d2: vec4<f32>,
  d3: vec4<f32>,
  d4: vec4<f32>,
  d5: vec4<f32>,
  d6: vec4<f32>,
  d7: vec4<f32>,
}

// (q - 8)·16^p of one nibble position in each of 4 words.
fn nib(w: vec4<u32>, mask: u32, sub: f32) -> vec4<f32> {
  return bitcast<vec4<f32>>((w & vec4<u32>(mask)) | vec4<u32>(MAGIC)) - vec4<f32>(sub);
}

fn dequant(w: vec4<u32>) -> Deq {
  let hi = w >> vec4<u32>(12u);
  return Deq(
    nib(w, 0xfu, 8388616.0), // 2^23 + 8·16^p
    nib(w, 0xf0u, 8388736.0),
    nib(w, 0xf00u, 8390656.0),
    nib(w, 0xf000u, 8421376.0),
    nib(w, 0xf0000u, 8912896.0),
    nib(hi, 0xf00u, 8390656.0),
    nib(hi, 0xf000u, 8421376.0),
    nib(hi, 0xf0000u, 8912896.0),
  );
}

// a + Σ_i d_i·x_i over one word; xl, xh: its 8 staged x. Two chains for instruction-level parallelism.
fn wdot(d: Deq, xl: vec4<f32>, xh: vec4<f32>, a: vec4<f32>) -> vec4<f32> {
  var e = fma(d.d0, vec4<f32>(xl.x), a);
  var o = d.d1 * vec4<f32>(xl.y);
  e = fma(d.d2, vec4<f32>(xl.z), e);
  o = fma(d.d3, vec4<f32>(xl.w), o);
  e = fma(d.d4, vec4<f32>(xh.x), e);
  o = fma(d.d5, vec4<f32>(xh.y), o);
  e = fma(d.d6, vec4<f32>(xh.z), e);
  o = fma(d.d7, vec4<f32>(xh.w), o);
  return e + o;
}

// Word jw of the 4 rows' block at staged block bl, against x row m (xs_slot(m·CHUNK + bl, ·)).
fn wdot_m(d: Deq, m: u32, jw: u32, bl: u32, a: vec4<f32>) -> vec4<f32> {
  let i = m * CHUNK + bl;
  let xo = i * 8u;
  let sw = i & 7u;
  return wdot(d, xs[xo + ((2u * jw) ^ sw)], xs[xo + ((2u * jw + 1u) ^ sw)], a);
}

// s + word jw (w: that word of the 4 rows) times every x row.
fn word_acc(w: vec4<u32>, jw: u32, bl: u32, s: Acc) -> Acc {
  let d = dequant(w);
  var r = s;
  r.a0 = wdot_m(d, 0u, jw, bl, r.a0);
  if (M > 1u) { r.a1 = wdot_m(d, 1u, jw, bl, r.a1); }
  if (M > 2u) { r.a2 = wdot_m(d, 2u, jw, bl, r.a2); }
  if (M > 3u) { r.a3 = wdot_m(d, 3u, jw, bl, r.a3); }
  if (M > 4u) { r.a4 = wdot_m(d, 4u, jw, bl, r.a4); }
  if (M > 5u) { r.a5 = wdot_m(d, 5u, jw, bl, r.a5); }
  if (M > 6u) { r.a6 = wdot_m(d, 6u, jw, bl, r.a6); }
  if (M > 7u) { r.a7 = wdot_m(d, 7u, jw, bl, r.a7); }
  return r;
}

// acc + scale · (block bl of the 4 rows)·x for every x row.
fn quad_acc(qd: Quad, bl: u32, acc: Acc) -> Acc {
  var s = acc_zero();
  let sc = quad_scales(qd);
  s = word_acc(vec4<u32>(qd.q0.x, qd.q1.x, qd.q2.x, qd.q3.x), 0u, bl, s);
  s = word_acc(vec4<u32>(qd.q0.y, qd.q1.y, qd.q2.y, qd.q3.y), 1u, bl, s);
  s = word_acc(vec4<u32>(qd.q0.z, qd.q1.z, qd.q2.z, qd.q3.z), 2u, bl, s);
  s = word_acc(vec4<u32>(qd.q0.w, qd.q1.w, qd.q2.w, qd.q3.w), 3u, bl, s);
  var r = acc;
  r.a0 = fma(sc, s.a0, r.a0);
  if (M > 1u) { r.a1 = fma(sc, s.a1, r.a1); }
  if (M > 2u) { r.a2 = fma(sc, s.a2, r.a2); }
  if (M > 3u) { r.a3 = fma(sc, s.a3, r.a3); }
  if (M > 4u) { r.a4 = fma(sc, s.a4, r.a4); }
  if (M > 5u) { r.a5 = fma(sc, s.a5, r.a5); }
  if (M > 6u) { r.a6 = fma(sc, s.a6, r.a6); }
  if (M > 7u) { r.a7 = fma(sc, s.a7, r.a7); }
  return r;
}

// Staged vec4 v of the chunk starting at block c0, pre-scaled by 16^-p: odd vec4s hold elements 4..7
// of a word.
fn x_load(c0: u32, v: u32) -> vec4<f32> {
  return x_prologue(c0, v) * select(X_LO, X_HI, (v & 1u) == 1u);
}

fn finish_x(lid: u32) {}
