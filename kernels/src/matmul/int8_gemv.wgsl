// INT8 weight-only GEMV for decode: y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]), M = 1..8. Prepended
// with f16_bits.wgsl.
//   x: (M, K) f32 row-major           y: (M, N) f32 row-major            bias: (N) f32
//   qweight: (N·kb·2) vec4<u32>, scales: (ceil(N·kb/2)) u32 of packed f16 — src/format/int8.ts:
//   block (n, b) is vec4s 2(n·kb + b) and +1; byte i of its word j holds k = 32b + 4j + i as an int8;
//   w = q·scale(n, b).
// The design is int4_gemv.wgsl's (read it first); what differs is the unit a lane reads. Here a unit is
// a 16-byte half block (16 weights): row n's unit u is vec4 n·2kb + u, k = 16u .. 16u + 15, scale of
// block u/2. A workgroup owns ROWS = 4·TR consecutive rows of W; thread (tk, tr) = (lid % TK, lid / TK)
// owns rows 4·tr .. 4·tr + 3 and the units u ≡ tk (mod TK), so neighbouring lanes read neighbouring
// 16 bytes of a row: every vec4 load instruction of a warp is one contiguous run. Per step a thread
// issues 4·U independent vec4<u32> loads (U units of its 4 rows) and reuses each x unit across its 4
// rows. The math runs on vec4s across the 4 rows; all per-thread state is plain values and structs
// passed by value (no loop-indexed local arrays, no pointers), every accumulator starts from an explicit
// value, and the TK partial sums of a row meet in workgroup memory at the end. Rows past N load row
// N-1 (in bounds) and are not written.
//
// x staging. The workgroup stages CHUNK units of x (4 vec4 each) in workgroup memory with coalesced
// loads, chunk by chunk. Vec4 jj of unit u sits at slot u·4 + (jj ^ ((u >> 1) & 3)): the 8 lanes of a
// 128-byte phase (8 consecutive units, same jj) then hit 8 different bank quads, and 8 consecutive
// stores fill 8 different quads too.
//
// Dequantization without int->float conversions. XOR 0x80 turns each int8 q into the unsigned q + 128;
// OR-ing a byte that sits at bit 8p (p = 0, 1) into the mantissa of 2^23 gives exactly
// 2^23 + (q + 128)·256^p < 2^24, and subtracting 2^23 + 128·256^p leaves q·256^p exactly (q = -128, the
// GGUF extreme, included). Bytes 2 and 3 are used after one shift by 16. x is multiplied by 256^-p
// (exact) when staged, so each FMA adds q·x with a single rounding. Per 4 weights: one XOR and one
// shift; per weight one AND/OR, one FSUB and one FMA per row of x. The unit sum is multiplied by the
// f16 scale once per unit.

override M: u32 = 1u; // rows of x, 1..8
override TK: u32 = 32u; // lanes along K per row group (power of two)
override TR: u32 = 8u; // row groups (of 4 rows) per workgroup
override U: u32 = 1u; // units per thread per step, 1 or 2 (more loads in flight)
override CHUNK: u32 = 128u; // x units (16 k) staged at a time
override HAS_BIAS: bool = false;
override XV: bool = false; // K % 4 == 0: stage x with vec4 loads through xv
override PF: bool = true; // prefetch the next step's weights during this step's math

override WG: u32 = TK * TR;
override ROWS: u32 = TR * 4u;
override XS_LEN: u32 = M * CHUNK * 4u; // vec4s of staged x
override RED_LEN: u32 = ROWS * (TK + 1u); // partial sums of one x row, padded rows: conflict-free

const MAGIC = 0x4b000000u; // 2^23 as f32 bits
const BIAS0 = 8388736.0; // 2^23 + 128
const BIAS1 = 8421376.0; // 2^23 + 128·256
// 256^-p for the 4 x of one word: bytes 0, 2 (p = 0) and 1, 3 (p = 1).
const X_SCALE = vec4<f32>(1.0, 0.00390625, 1.0, 0.00390625);

struct Params {
  n: u32,
  k: u32,
  ku: u32, // units per row, 2·ceil(K / 32)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (M, K)
@group(0) @binding(2) var<storage, read> xv: array<vec4<f32>>; // (M, K/4), same buffer as x
@group(0) @binding(3) var<storage, read> qweight: array<vec4<u32>>; // (N, ku)
@group(0) @binding(4) var<storage, read> scales: array<u32>; // (ceil(N·ku/4)) f16 pairs
@group(0) @binding(5) var<storage, read> bias: array<f32>; // (N); a 16-byte dummy when !HAS_BIAS
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // (M, N)

var<workgroup> xs: array<vec4<f32>, XS_LEN>; // [m][unit][4 vec4], swizzled, pre-scaled by 256^-p
var<workgroup> red: array<f32, RED_LEN>; // [local row][TK + 1]

// One unit of the thread's 4 rows: qn = row n's 16 bytes, sc = the 4 scales.
// sw = the 4 words holding the rows' f16 scales, sh = each scale's bit offset in its word: raw until the
// math uses them (int4_gemv.wgsl says why; here it took the Llama-3.2-1B lm_head from 108 to 85 µs).
struct Quad {
  q0: vec4<u32>,
  q1: vec4<u32>,
  q2: vec4<u32>,
  q3: vec4<u32>,
  sw: vec4<u32>,
  sh: vec4<u32>,
}

// Per x row m (a0 .. a7; only the first M are used): the 4 rows' sums in the components.
struct Acc {
  a0: vec4<f32>,
  a1: vec4<f32>,
  a2: vec4<f32>,
  a3: vec4<f32>,
  a4: vec4<f32>,
  a5: vec4<f32>,
  a6: vec4<f32>,
  a7: vec4<f32>,
}

// The 4 weights of one word of the 4 rows, dequantized as q·256^p.
struct Deq {
  d0: vec4<f32>,
  d1: vec4<f32>,
  d2: vec4<f32>,
  d3: vec4<f32>,
}

fn acc_zero() -> Acc {
  let z = vec4<f32>(0.0);
  return Acc(z, z, z, z, z, z, z, z);
}

fn acc_row(a: Acc, m: u32) -> vec4<f32> {
  switch (m) {
    case 0u: { return a.a0; }
    case 1u: { return a.a1; }
    case 2u: { return a.a2; }
    case 3u: { return a.a3; }
    case 4u: { return a.a4; }
    case 5u: { return a.a5; }
    case 6u: { return a.a6; }
    default: { return a.a7; }
  }
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
  let K = p.k;
  let last = M * K - 1u;
  let m = v / (CHUNK * 4u);
  let ul = (v / 4u) % CHUNK;
  let k0 = (c0 + ul) * 16u + (v % 4u) * 4u;
  let base = min(m * K + k0, last); // m >= M only for v past the staging range (value unused)
  var val: vec4<f32>;
  if (k0 + 4u <= K) {
    if (XV) {
      val = xv[base / 4u];
    } else {
      val = vec4<f32>(x[base], x[base + 1u], x[base + 2u], x[base + 3u]);
    }
  } else {
    let ok = vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(K);
    val = select(
      vec4<f32>(0.0),
      vec4<f32>(x[base], x[min(base + 1u, last)], x[min(base + 2u, last)], x[min(base + 3u, last)]),
      ok,
    );
  }
  return val * X_SCALE;
}

fn x_store(v: u32, val: vec4<f32>) {
  let ul = (v / 4u) % CHUNK;
  xs[(v / (CHUNK * 4u)) * CHUNK * 4u + ul * 4u + ((v % 4u) ^ ((ul >> 1u) & 3u))] = val;
}

// Stages x units c0 .. c0 + CHUNK - 1 of every x row; four loads go out before their stores.
fn stage_x(c0: u32, lid: u32) {
  for (var v = lid; v < XS_LEN; v += 4u * WG) {
    let a = x_load(c0, v);
    let b = x_load(c0, v + WG);
    let c = x_load(c0, v + 2u * WG);
    let d = x_load(c0, v + 3u * WG);
    x_store(v, a);
    if (v + WG < XS_LEN) { x_store(v + WG, b); }
    if (v + 2u * WG < XS_LEN) { x_store(v + 2u * WG, c); }
    if (v + 3u * WG < XS_LEN) { x_store(v + 3u * WG, d); }
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let tk = lid % TK;
  let tr = lid / TK;
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  let ku = p.ku;
  // Unit 0 of this thread's 4 rows (rows past N clamped: in-bounds loads, never written).
  let ru = min(vec4<u32>(row0 + 4u * tr) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u)) * ku;

  var acc = acc_zero();
  let step = TK * U;
  for (var c0 = 0u; c0 < ku; c0 += CHUNK) {
    let cn = min(CHUNK, ku - c0);
    // The chunk's first step of weights goes out before the x staging (weights do not depend on x).
    var qa = load_quad(ru, c0 + min(tk, cn - 1u));
    var qb = qa;
    if (U > 1u) {
      qb = load_quad(ru, c0 + min(tk + TK, cn - 1u));
    }
    workgroupBarrier(); // the previous chunk's readers are done
    stage_x(c0, lid);
    workgroupBarrier();
    for (var u0 = tk; u0 < cn; u0 += step) {
      var ca = qa;
      var cb = qb;
      let nu = u0 + step;
      if (PF) {
        if (nu < cn) {
          qa = load_quad(ru, c0 + nu);
          if (U > 1u) {
            qb = load_quad(ru, c0 + min(nu + TK, cn - 1u));
          }
        }
      } else if (u0 != tk) {
        ca = load_quad(ru, c0 + u0);
        if (U > 1u) {
          cb = load_quad(ru, c0 + min(u0 + TK, cn - 1u));
        }
      }
      acc = quad_acc(ca, u0, acc);
      if (U > 1u && u0 + TK < cn) {
        acc = quad_acc(cb, u0 + TK, acc);
      }
    }
  }

  // Sum the TK partials of each row, one x row at a time (bounded workgroup memory for any M).
  for (var m = 0u; m < M; m++) {
    workgroupBarrier(); // readers of the previous round are done
    let a = acc_row(acc, m);
    let o = 4u * tr * (TK + 1u) + tk;
    red[o] = a.x;
    red[o + (TK + 1u)] = a.y;
    red[o + 2u * (TK + 1u)] = a.z;
    red[o + 3u * (TK + 1u)] = a.w;
    workgroupBarrier();
    for (var lr = lid; lr < ROWS; lr += WG) {
      let n = row0 + lr;
      if (n < p.n) {
        let base = lr * (TK + 1u);
        var s4 = vec4<f32>(0.0);
        var t = 0u;
        for (; t + 4u <= TK; t += 4u) {
          s4 += vec4<f32>(red[base + t], red[base + t + 1u], red[base + t + 2u], red[base + t + 3u]);
        }
        for (; t < TK; t++) {
          s4.x += red[base + t];
        }
        var s = (s4.x + s4.y) + (s4.z + s4.w);
        if (HAS_BIAS) {
          s += bias[n];
        }
        y[m * p.n + n] = s;
      }
    }
  }
}
