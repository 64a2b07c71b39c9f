// INT8 weight-only GEMV for decode: y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]), M = 1..8.
//   x: (M, K) f32 row-major           y: (M, N) f32 row-major            bias: (N) f32
//   qweight: (N·kb·2) vec4<u32>, scales: (ceil(N·kb/2)) u32 of packed f16 — src/format/int8.ts:
//   block (n, b) is vec4s 2(n·kb + b) and +1; byte i of its word j holds k = 32b + 4j + i as an int8;
//   w = q·scale(n, b).
// int8_gemv.ts concatenates f16_bits.wgsl, quant_gemv.wgsl (the work split, main loop and reduction:
// read it first) and this file. A unit here is a 16-byte half block (16 weights): row n's unit u is
// vec4 n·2kb + u, k = 16u .. 16u + 15, scale of block u/2; p.nu = ku = 2·ceil(K / 32). No x prologue
// (XMODE = 0; the frame's normw binding gets a dummy).
//
// x staging. The workgroup stages CHUNK units of x (4 vec4 each). Vec4 jj of unit u sits at slot
// u·4 + (jj ^ ((u >> 1) & 3)): the 8 lanes of a 128-byte phase (8 consecutive units, same jj) then hit
// 8 different bank quads, and 8 consecutive stores fill 8 different quads too.
//
// Dequantization without int->float conversions. XOR 0x80 turns each int8 q into the unsigned q + 128;
// OR-ing a byte that sits at bit 8p (p = 0, 1) into the mantissa of 2^23 gives exactly
// 2^23 + (q + 128)·256^p < 2^24, and subtracting 2^23 + 128·256^p leaves q·256^p exactly (q = -128, the
// GGUF extreme, included). Bytes 2 and 3 are used after one shift by 16. x is multiplied by 256^-p
// (exact) when staged, so each FMA adds q·x with a single rounding. Per 4 weights: one XOR and one
// shift; per weight one AND/OR, one FSUB and one FMA per row of x. The unit sum is multiplied by the
// f16 scale once per unit.

override XS_LEN: u32 = M * CHUNK * 4u; // vec4s of staged x

const MAGIC = 0x4b000000u; // 2^23 as f32 bits
const BIAS0 = 8388736.0; // 2^23 + 128
const BIAS1 = 8421376.0; // 2^23 + 128·256
// 256^-p for the 4 x of one word: bytes 0, 2 (p = 0) and 1, 3 (p = 1).
const X_SCALE = vec4<f32>(1.0, 0.00390625, 1.0, 0.00390625);

// The 4 weights of one word of the 4 rows, dequantized as q·256^p.
struct Deq {
  d0: vec4<f32>,
  d1: vec4<f32>,
  d2: vec4<f32>,
  d3: vec4<f32>,
}

// The scale of unit index s (= n·ku + u): block s >> 1, widened exactly (f16_bits.wgsl, prepended):
// unpack2x16float may flush f16 subnormals, and d = a/127 is subnormal for any block with a < 0.0078.
// The 4 rows' scales of a quad as f32.
fn quad_scales(qd: Quad) -> vec4<f32> {
  let h = (qd.sw >> qd.sh) & vec4<u32>(0xffffu);
  return bitcast<vec4<f32>>(
    vec4<u32>(f16_to_f32_bits(h.x), f16_to_f32_bits(h.y), f16_to_f32_bits(h.z), f16_to_f32_bits(h.w)),
  );
}

// ru: unit 0 of each of the 4 rows; u: the unit.
fn load_quad(ru: vec4<u32>, u: u32) -> Quad {
  let s = ru + vec4<u32>(u);
  return Quad(
    qweight[s.x],
    qweight[s.y],
    qweight[s.z],
    qweight[s.w],
    vec4<u32>(scales[s.x >> 2u], scales[s.y >> 2u], scales[s.z >> 2u], scales[s.w >> 2u]),
    ((s >> vec4<u32>(1u)) & vec4<u32>(1u)) * 16u,
  );
}

fn byte_at(t: vec4<u32>, mask: u32, sub: f32) -> vec4<f32> {
  return bitcast<vec4<f32>>((t & vec4<u32>(mask)) | vec4<u32>(MAGIC)) - vec4<f32>(sub);
}

fn dequant(w: vec4<u32>) -> Deq {
  let t = w ^ vec4<u32>(0x80808080u);
  let hi = t >> vec4<u32>(16u);
  return Deq(
    byte_at(t, 0xffu, BIAS0),
    byte_at(t, 0xff00u, BIAS1),
    byte_at(hi, 0xffu, BIAS0),
    byte_at(hi, 0xff00u, BIAS1),
  );
}

// a + Σ_i d_i·x_i over one word; xw: its 4 staged x. Two chains for instruction-level parallelism.
fn wdot(d: Deq, xw: vec4<f32>, a: vec4<f32>) -> vec4<f32> {
  let e = fma(d.d2, vec4<f32>(xw.z), fma(d.d0, vec4<f32>(xw.x), a));
  let o = fma(d.d3, vec4<f32>(xw.w), d.d1 * vec4<f32>(xw.y));
  return e + o;
}

// Word jw of the 4 rows' unit at staged unit ul, against x row m.
fn wdot_m(d: Deq, m: u32, jw: u32, ul: u32, a: vec4<f32>) -> vec4<f32> {
  return wdot(d, xs[(m * CHUNK + ul) * 4u + (jw ^ ((ul >> 1u) & 3u))], a);
}

// s + word jw (w: that word of the 4 rows) times every x row.
fn word_acc(w: vec4<u32>, jw: u32, ul: u32, s: Acc) -> Acc {
  let d = dequant(w);
  var r = s;
  r.a0 = wdot_m(d, 0u, jw, ul, r.a0);
  if (M > 1u) { r.a1 = wdot_m(d, 1u, jw, ul, r.a1); }
  if (M > 2u) { r.a2 = wdot_m(d, 2u, jw, ul, r.a2); }
  if (M > 3u) { r.a3 = wdot_m(d, 3u, jw, ul, r.a3); }
  if (M > 4u) { r.a4 = wdot_m(d, 4u, jw, ul, r.a4); }
  if (M > 5u) { r.a5 = wdot_m(d, 5u, jw, ul, r.a5); }
  if (M > 6u) { r.a6 = wdot_m(d, 6u, jw, ul, r.a6); }
  if (M > 7u) { r.a7 = wdot_m(d, 7u, jw, ul, r.a7); }
  return r;
}

// acc + scale · (unit ul of the 4 rows)·x for every x row.
fn quad_acc(qd: Quad, ul: u32, acc: Acc) -> Acc {
  var s = acc_zero();
  let sc = quad_scales(qd);
  s = word_acc(vec4<u32>(qd.q0.x, qd.q1.x, qd.q2.x, qd.q3.x), 0u, ul, s);
  s = word_acc(vec4<u32>(qd.q0.y, qd.q1.y, qd.q2.y, qd.q3.y), 1u, ul, s);
  s = word_acc(vec4<u32>(qd.q0.z, qd.q1.z, qd.q2.z, qd.q3.z), 2u, ul, s);
  s = word_acc(vec4<u32>(qd.q0.w, qd.q1.w, qd.q2.w, qd.q3.w), 3u, ul, s);
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

// Staged vec4 v of the chunk starting at unit c0: x[m][k0 .. k0 + 3] · 256^-p, 0 past K.
fn x_load(c0: u32, v: u32) -> vec4<f32> {
  let k0 = (c0 + (v / 4u) % CHUNK) * 16u + (v % 4u) * 4u;
  return x_vec4(v / (CHUNK * 4u), k0, p.k, 0u) * X_SCALE;
}

fn x_store(v: u32, val: vec4<f32>) {
  let ul = (v / 4u) % CHUNK;
  xs[(v / (CHUNK * 4u)) * CHUNK * 4u + ul * 4u + ((v % 4u) ^ ((ul >> 1u) & 3u))] = val;
}

fn finish_x(lid: u32) {}
