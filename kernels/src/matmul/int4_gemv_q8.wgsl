// INT4 weight-only GEMV for decode with 8-bit activations: y[m][n] ≈ Σ_k x[m][k]·W[n][k] (+ bias[n]),
// M = 1..8. int4_gemv.ts concatenates quant_gemv.wgsl (the frame), int4_gemv_common.wgsl (the INT4
// format, the SwiGLU prologue, the x swizzle) and this file: the same inputs, work split and fusions
// as int4_gemv.wgsl; the difference is the math.
//
// x is quantized per block of 32 k as it is staged: d = max|x|/127, q = round(x/d) in -127..127 (the
// Q8_0 rule). A block of one row is then Σ (qw - 8)·qx = Σ qw·qx - 8·Σ qx in exact integers, four
// products per dot4I8Packed (native DP4A where the device has integer dot products), and the row adds
// scale·d·that once per block. Per 8 weights: two masks and a shift, two dot products and their adds,
// against 8 LOP3 + 8 FSUB + 8 FMA of the f32 kernel. The error is that of x rounded to 8 bits per
// block (relative ~1/254 of the block's max), the activation rounding llama.cpp's Q4_0·Q8 dot uses.
//
// x staging: every thread loads vec4s of x (coalesced, four in flight), applies the prologue and
// stores them as f32 in workgroup memory; then one thread per (x row, block) quantizes the block and
// stores two vec4<u32> of packed bytes (byte b of word 2j: k = 8j + 2b, of word 2j + 1: k = 8j + 2b +
// 1, matching the even and odd nibbles of weight word j), d, and 8·Σ qx. The two vec4s sit in separate
// arrays so that lanes reading neighbouring blocks hit neighbouring 16-byte bank quads. Measured on an
// H200 (ARCHITECTURE.md, "q8 activations"): a first version in which each thread read its block
// straight from global memory made the 8B down projection 2.5x slower than the f32 kernel.

override XB: u32 = M * CHUNK; // staged blocks

const LO = 0x0f0f0f0fu;
const ROUND = 12582912.0; // 1.5·2^23
const ROUND_BITS = 0x4b400000u;
const TINY = 1e-30; // blocks with max|x| below this are zero (127/max stays far from overflow)

var<workgroup> xa: array<vec4<u32>, XB>; // [m][block]: even, odd bytes of weight words 0 and 1
var<workgroup> xb: array<vec4<u32>, XB>; // words 2 and 3
var<workgroup> xd: array<vec2<f32>, XB>; // d, 8·Σ qx

// Σ qw·qx over one row's block q (4 words of 8 nibbles) against staged a, b.
fn qdot(q: vec4<u32>, a: vec4<u32>, b: vec4<u32>) -> i32 {
  let lo = q & vec4<u32>(LO);
  let hi = (q >> vec4<u32>(4u)) & vec4<u32>(LO);
  let s0 = dot4I8Packed(lo.x, a.x) + dot4I8Packed(hi.x, a.y);
  let s1 = dot4I8Packed(lo.y, a.z) + dot4I8Packed(hi.y, a.w);
  let s2 = dot4I8Packed(lo.z, b.x) + dot4I8Packed(hi.z, b.y);
  let s3 = dot4I8Packed(lo.w, b.z) + dot4I8Packed(hi.w, b.w);
  return (s0 + s1) + (s2 + s3);
}

// The 4 rows' block against staged block i: scale·d·(Σ qw·qx - 8·Σ qx) per row.
fn quad_m(qd: Quad, sc: vec4<f32>, i: u32, a: vec4<f32>) -> vec4<f32> {
  let u = xa[i];
  let v = xb[i];
  let dc = xd[i];
  let s = vec4<i32>(qdot(qd.q0, u, v), qdot(qd.q1, u, v), qdot(qd.q2, u, v), qdot(qd.q3, u, v));
  return fma(sc * dc.x, vec4<f32>(s) - vec4<f32>(dc.y), a);
}

fn quad_acc(qd: Quad, bl: u32, acc: Acc) -> Acc {
  let sc = quad_scales(qd);
  var r = acc;
  r.a0 = quad_m(qd, sc, bl, r.a0);
  if (M > 1u) { r.a1 = quad_m(qd, sc, CHUNK + bl, r.a1); }
  if (M > 2u) { r.a2 = quad_m(qd, sc, 2u * CHUNK + bl, r.a2); }
  if (M > 3u) { r.a3 = quad_m(qd, sc, 3u * CHUNK + bl, r.a3); }
  if (M > 4u) { r.a4 = quad_m(qd, sc, 4u * CHUNK + bl, r.a4); }
  if (M > 5u) { r.a5 = quad_m(qd, sc, 5u * CHUNK + bl, r.a5); }
  if (M > 6u) { r.a6 = quad_m(qd, sc, 6u * CHUNK + bl, r.a6); }
  if (M > 7u) { r.a7 = quad_m(qd, sc, 7u * CHUNK + bl, r.a7); }
  return r;
}

fn x_load(c0: u32, v: u32) -> vec4<f32> {
  return x_prologue(c0, v);
}

// Four values v·inv rounded to integers (ties to even, as round()), each in the low byte of a word:
// adding 1.5·2^23 leaves round(v·inv) in the low mantissa bits (|v·inv| <= 127), two's complement.
fn q4(v: vec4<f32>, inv: f32) -> vec4<u32> {
  return bitcast<vec4<u32>>(v * inv + vec4<f32>(ROUND)) - vec4<u32>(ROUND_BITS);
}

// x is staged in two passes. First every thread loads vec4s of x (four in flight), applies the
// prologue and stores them as f32 (the frame's stage_x); then, here, one thread per (row, block)
// quantizes the block from workgroup memory.
fn finish_x(lid: u32) {
  workgroupBarrier();
  for (var i = lid; i < XB; i += WG) {
    let v0 = xs[xs_slot(i, 0u)];
    let v1 = xs[xs_slot(i, 1u)];
    let v2 = xs[xs_slot(i, 2u)];
    let v3 = xs[xs_slot(i, 3u)];
    let v4 = xs[xs_slot(i, 4u)];
    let v5 = xs[xs_slot(i, 5u)];
    let v6 = xs[xs_slot(i, 6u)];
    let v7 = xs[xs_slot(i, 7u)];
    let mx = max(max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))), max(max(abs(v4), abs(v5)), max(abs(v6), abs(v7))));
    let amax = max(max(mx.x, mx.y), max(mx.z, mx.w));
    // A block below TINY (zeros, or values so small that 127/max overflows) counts as zero.
    let big = amax >= TINY;
    let d = select(0.0, amax / 127.0, big);
    let inv = select(0.0, 127.0 / amax, big);
    let a0 = q4(v0, inv);
    let a1 = q4(v1, inv);
    let a2 = q4(v2, inv);
    let a3 = q4(v3, inv);
    let a4 = q4(v4, inv);
    let a5 = q4(v5, inv);
    let a6 = q4(v6, inv);
    let a7 = q4(v7, inv);
    // word j of the weight holds k = 8j .. 8j + 7: even k of vec4s (2j, 2j + 1), then odd k
    xa[i] = vec4<u32>(
      pack4xU8(vec4<u32>(a0.x, a0.z, a1.x, a1.z)),
      pack4xU8(vec4<u32>(a0.y, a0.w, a1.y, a1.w)),
      pack4xU8(vec4<u32>(a2.x, a2.z, a3.x, a3.z)),
      pack4xU8(vec4<u32>(a2.y, a2.w, a3.y, a3.w)),
    );
    xb[i] = vec4<u32>(
      pack4xU8(vec4<u32>(a4.x, a4.z, a5.x, a5.z)),
      pack4xU8(vec4<u32>(a4.y, a4.w, a5.y, a5.w)),
      pack4xU8(vec4<u32>(a6.x, a6.z, a7.x, a7.z)),
      pack4xU8(vec4<u32>(a6.y, a6.w, a7.y, a7.w)),
    );
    // Σ q in wrapping u32 arithmetic is exact as i32 (|Σ q| <= 32·127)
    let t = (a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7);
    xd[i] = vec2<f32>(d, f32(8 * bitcast<i32>((t.x + t.y) + (t.z + t.w))));
  }
}
