// INT4 weight-only GEMV for decode: y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]), M = 1..8.
//   x: (M, K) f32 row-major           y: (M, N) f32 row-major            bias: (N) f32
//   qweight: (N·kb) vec4<u32>, scales: (ceil(N·kb/2)) u32 of packed f16 — src/format/int4.ts:
//   block (n, b) holds k = 32b + 8j + i in bits 4i..4i+3 of word j; w = (q - 8)·scale(n, b).
//
// Work split. A workgroup owns ROWS = 4·TR consecutive rows of W. Thread (tk, tr) = (lid % TK,
// lid / TK) owns the 4 rows 4·tr .. 4·tr + 3 and the blocks b ≡ tk (mod TK). Neighbouring lanes read
// neighbouring 16-byte blocks of one row, so a warp streams contiguous runs of TK·16 bytes; per step
// a thread issues 4·U independent vec4<u32> loads (U blocks of its 4 rows), which keeps enough bytes
// in flight to saturate HBM, and reuses each x block across its 4 rows. The math runs on vec4s across
// the 4 rows, and all per-thread state is plain values and structs passed by value (no arrays indexed
// by loop counters, no pointers): a driver that does not unroll such loops puts the arrays in local
// memory (a first version with such arrays ran 1.3-4x slower, erratically across variants, on an H100).
// Every accumulator is initialized by an explicit value: Dawn on SwiftShader did not re-zero a
// loop-local `var` array on each iteration. The TK partial sums of a row meet in workgroup memory at
// the end. Rows past N load row N-1 (in bounds) and are not written.
//
// x staging. Each lane needs the 32 contiguous x of its block, so lanes of a warp would touch 32
// different 128-byte lines per load (one L1 wavefront each, ~8x the coalesced cost). Instead the
// workgroup stages CHUNK blocks of x in workgroup memory with coalesced loads (chunk by chunk when K
// is large), and lanes read it back as vec4. Vec4 jj of block b sits at slot b·8 + (jj ^ (b & 7)):
// the 8 lanes of a 128-byte phase then hit 8 different bank quads on both the stores and the reads.
//
// Dequantization without int->float conversions (quarter rate on NVIDIA). OR-ing a nibble that sits at
// bit 4p into the mantissa of 2^23 gives exactly 2^23 + q·16^p (for 4p + 4 <= 23); subtracting
// 2^23 + 8·16^p leaves (q - 8)·16^p exactly. x is multiplied by 16^-p (exact) when it is staged, so
// each FMA adds (q - 8)·x with a single rounding. Nibbles 0..4 are used in place, 5..7 after one shift
// by 12 (p = 2, 3, 4). Per weight: one AND/OR (a LOP3), one FSUB, and one FMA per row of x. The block
// sum is multiplied by the f16 scale once per block.
//
// Fusions (decode removes a dispatch and a pass over memory for each):
//   XMODE = 1, RMSNorm prologue: x is the raw residual stream and the staged x is x·inv·normw, inv =
//     1/sqrt(mean(x²) + eps) per x row. Every workgroup computes mean(x²) itself, in the order the
//     rmsnorm kernel uses (256 strided partial sums, then a tree), so the result is the same as an
//     rmsnorm dispatch followed by the plain GEMV.
//   XMODE = 2, SwiGLU prologue: x is the fused gate_up (M, 2K) and the staged x is silu(gate)·up.
//   RESID, residual epilogue: y[m][n] += the result (y is the residual stream; bias added first).

override M: u32 = 1u; // rows of x, 1..8
override TK: u32 = 32u; // lanes along K per row group (power of two)
override TR: u32 = 8u; // row groups (of 4 rows) per workgroup
override U: u32 = 1u; // blocks per thread per step, 1 or 2 (more loads in flight)
override CHUNK: u32 = 64u; // x blocks staged at a time
override HAS_BIAS: bool = false;
override XV: bool = false; // K % 4 == 0: stage x with vec4 loads through xv
override PF: bool = true; // prefetch the next step's weights during this step's math
override XMODE: u32 = 0u; // 0: x as is; 1: RMSNorm(x)·normw; 2: silu(gate)·up of x = (M, 2K) gate_up
override RESID: bool = false; // y += x·Wᵀ (+ bias) instead of y =

override WG: u32 = TK * TR;
override ROWS: u32 = TR * 4u;
override XS_LEN: u32 = M * CHUNK * 8u; // vec4s of staged x
override RED_LEN: u32 = ROWS * (TK + 1u); // partial sums of one x row, padded rows: conflict-free
override NRED: u32 = select(1u, NORM_LANES, XMODE == 1u); // mean(x²) partials (norm prologue only)
override XROW: u32 = select(1u, 2u, XMODE == 2u); // x row length in units of K

const MAGIC = 0x4b000000u; // 2^23 as f32 bits
const NORM_LANES = 256u; // the rmsnorm kernel's workgroup size: its summation order
// 16^-p for the 8 x of one word: elements 0..3 (p = 0, 1, 2, 3), then 4..7 (p = 4, 2, 3, 4).
const X_LO = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);
const X_HI = vec4<f32>(0.0000152587890625, 0.00390625, 0.000244140625, 0.0000152587890625);

struct Params {
  n: u32,
  k: u32,
  kb: u32, // blocks per row, ceil(K / 32)
  eps: f32, // RMSNorm epsilon (XMODE = 1)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (M, K)
@group(0) @binding(2) var<storage, read> xv: array<vec4<f32>>; // (M, K/4), same buffer as x
@group(0) @binding(3) var<storage, read> qweight: array<vec4<u32>>; // (N, kb)
@group(0) @binding(4) var<storage, read> scales: array<u32>; // (ceil(N·kb/2)) f16 pairs
@group(0) @binding(5) var<storage, read> bias: array<f32>; // (N); a 16-byte dummy when !HAS_BIAS
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // (M, N)
@group(0) @binding(7) var<storage, read> normw: array<f32>; // (K) RMSNorm weight; a dummy unless XMODE = 1

var<workgroup> xs: array<vec4<f32>, XS_LEN>; // [m][block][8 vec4], swizzled, pre-scaled by 16^-p
var<workgroup> red: array<f32, RED_LEN>; // [local row][TK + 1]
var<workgroup> nred: array<f32, NRED>; // mean(x²) partials of one x row
var<workgroup> ninv: array<f32, 8>; // 1/sqrt(mean(x²) + eps) per x row

// One block of the thread's 4 rows: qn = row n's 32 nibbles; sw = the 4 words holding their f16 scales,
// sh = each scale's bit offset in its word. The scales stay raw until the math uses them: decoding them
// at load time makes the thread wait for the load right there, so the next step's loads would not
// overlap this step's math (measured on the H200: 5% of a Llama-3.2-1B decode step).
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

// The 4 rows' scales of a quad as f32.
fn quad_scales(qd: Quad) -> vec4<f32> {
  let h = qd.sw >> qd.sh;
  return vec4<f32>(
    unpack2x16float(h.x).x,
    unpack2x16float(h.y).x,
    unpack2x16float(h.z).x,
    unpack2x16float(h.w).x,
  );
}

// rb: block 0 of each of the 4 rows; b: the block.
fn load_quad(rb: vec4<u32>, b: u32) -> Quad {
  let s = rb + vec4<u32>(b);
  return Quad(
    qweight[s.x],
    qweight[s.y],
    qweight[s.z],
    qweight[s.w],
    vec4<u32>(scales[s.x >> 1u], scales[s.y >> 1u], scales[s.z >> 1u], scales[s.w >> 1u]),
    (s & vec4<u32>(1u)) * 16u,
  );
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

// Word jw of the 4 rows' block at staged block bl, against x row m.
fn wdot_m(d: Deq, m: u32, jw: u32, bl: u32, a: vec4<f32>) -> vec4<f32> {
  let xo = (m * CHUNK + bl) * 8u;
  let sw = bl & 7u;
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

// Staged vec4 v of the chunk starting at block c0: x[m][k0 .. k0 + 3] · 16^-p, 0 past K.
fn x_load(c0: u32, v: u32) -> vec4<f32> {
  let m = v / (CHUNK * 8u);
  let bl = (v / 8u) % CHUNK;
  let jj = v % 8u;
  let k0 = (c0 + bl) * 32u + jj * 4u;
  var val = x_raw(m, k0, 0u);
  if (XMODE == 1u) {
    let K = p.k;
    let w = vec4<f32>(normw[min(k0, K - 1u)], normw[min(k0 + 1u, K - 1u)], normw[min(k0 + 2u, K - 1u)],
      normw[min(k0 + 3u, K - 1u)]);
    val = val * ninv[min(m, 7u)] * w;
  } else if (XMODE == 2u) {
    val = silu4(val) * x_raw(m, k0, p.k);
  }
  return val * select(X_LO, X_HI, (jj & 1u) == 1u);
}

// silu(x) = x / (1 + exp(-x)) as the swiglu kernel computes it (exp only sees -|x|).
fn silu4(x: vec4<f32>) -> vec4<f32> {
  let e = exp(-abs(x));
  let r = vec4<f32>(1.0) / (vec4<f32>(1.0) + e);
  return select(x * e * r, x * r, x >= vec4<f32>(0.0));
}

// x[m][off + k0 .. off + k0 + 3] of rows of XROW·K, 0 past K.
fn x_raw(m: u32, k0: u32, off: u32) -> vec4<f32> {
  let K = p.k;
  let last = M * XROW * K - 1u;
  let base = min(m * XROW * K + off + k0, last); // m >= M only past the staging range (value unused)
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
  return val;
}

fn x_store(v: u32, val: vec4<f32>) {
  let bl = (v / 8u) % CHUNK;
  xs[(v / (CHUNK * 8u)) * CHUNK * 8u + bl * 8u + ((v % 8u) ^ (bl & 7u))] = val;
}

// Stages x blocks c0 .. c0 + CHUNK - 1 of every x row. Four loads go out before their stores, so a
// thread waits for one L2 round trip per four vec4s instead of one per vec4.
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

// ninv[m] = 1/sqrt(mean(x[m]²) + eps) for every x row. NORM_LANES partial sums, lane v summing
// k = v, v + 256, ... in order (four loads in flight per step), then a tree: the rmsnorm kernel's order.
fn norm_prologue(lid: u32) {
  let K = p.k;
  for (var m = 0u; m < M; m++) {
    for (var v = lid; v < NORM_LANES; v += WG) {
      var ss = 0.0;
      let last = m * K + K - 1u;
      for (var i = v; i < K; i += 4u * NORM_LANES) {
        let a = x[m * K + i];
        let b = x[min(m * K + i + NORM_LANES, last)];
        let c = x[min(m * K + i + 2u * NORM_LANES, last)];
        let d = x[min(m * K + i + 3u * NORM_LANES, last)];
        ss += a * a;
        if (i + NORM_LANES < K) { ss += b * b; }
        if (i + 2u * NORM_LANES < K) { ss += c * c; }
        if (i + 3u * NORM_LANES < K) { ss += d * d; }
      }
      nred[v] = ss;
    }
    workgroupBarrier();
    for (var s = NORM_LANES / 2u; s > 0u; s >>= 1u) {
      for (var v = lid; v < s; v += WG) {
        nred[v] += nred[v + s];
      }
      workgroupBarrier();
    }
    if (lid == 0u) {
      ninv[m] = inverseSqrt(nred[0] / f32(K) + p.eps);
    }
    workgroupBarrier();
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
  let kb = p.kb;
  // Block 0 of this thread's 4 rows (rows past N clamped: in-bounds loads, never written).
  let rb = min(vec4<u32>(row0 + 4u * tr) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u)) * kb;

  var acc = acc_zero();
  let step = TK * U;
  for (var c0 = 0u; c0 < kb; c0 += CHUNK) {
    let cn = min(CHUNK, kb - c0);
    // The chunk's first step of weights goes out before the x staging (weights do not depend on x),
    // so DRAM latency overlaps the staging and its barriers. qb: block + TK when U = 2.
    var qa = load_quad(rb, c0 + min(tk, cn - 1u));
    var qb = qa;
    if (U > 1u) {
      qb = load_quad(rb, c0 + min(tk + TK, cn - 1u));
    }
    if (XMODE == 1u && c0 == 0u) {
      norm_prologue(lid); // under the first weight loads
    }
    workgroupBarrier(); // the previous chunk's readers are done
    stage_x(c0, lid);
    workgroupBarrier();
    for (var b0 = tk; b0 < cn; b0 += step) {
      var ca = qa;
      var cb = qb;
      let nb = b0 + step;
      if (PF) {
        // The next step's loads go out before this step's math: two steps in flight per thread.
        if (nb < cn) {
          qa = load_quad(rb, c0 + nb);
          if (U > 1u) {
            qb = load_quad(rb, c0 + min(nb + TK, cn - 1u));
          }
        }
      } else if (b0 != tk) {
        ca = load_quad(rb, c0 + b0);
        if (U > 1u) {
          cb = load_quad(rb, c0 + min(b0 + TK, cn - 1u));
        }
      }
      acc = quad_acc(ca, b0, acc);
      if (U > 1u && b0 + TK < cn) {
        acc = quad_acc(cb, b0 + TK, acc);
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
        // Four independent chains: the loads pipeline instead of waiting on each add.
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
        if (RESID) {
          s = y[m * p.n + n] + s;
        }
        y[m * p.n + n] = s;
      }
    }
  }
}
