// INT4 weight-only GEMV for decode with 8-bit activations: y[m][n] ≈ Σ_k x[m][k]·W[n][k] (+ bias[n]),
// M = 1..8. Same inputs, work split and fusions as int4_gemv.wgsl; the difference is the math.
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

override M: u32 = 1u; // rows of x, 1..8
override TK: u32 = 32u; // lanes along K per row group (power of two)
override TR: u32 = 8u; // row groups (of 4 rows) per workgroup
override CHUNK: u32 = 64u; // x blocks staged at a time
override HAS_BIAS: bool = false;
override XV: bool = false; // K % 4 == 0: stage x with vec4 loads through xv
override PF: bool = true; // prefetch the next step's weights during this step's math
override XMODE: u32 = 0u; // 0: x as is; 1: RMSNorm(x)·normw; 2: silu(gate)·up of x = (M, 2K) gate_up
override RESID: bool = false; // y += x·Wᵀ (+ bias) instead of y =

override WG: u32 = TK * TR;
override ROWS: u32 = TR * 4u;
override XB: u32 = M * CHUNK; // staged blocks
override RED_LEN: u32 = ROWS * (TK + 1u);
override NRED: u32 = select(1u, NORM_LANES, XMODE == 1u);
override XROW: u32 = select(1u, 2u, XMODE == 2u);

const NORM_LANES = 256u;
const LO = 0x0f0f0f0fu;
const ROUND = 12582912.0; // 1.5·2^23
const ROUND_BITS = 0x4b400000u;
const TINY = 1e-30; // blocks with max|x| below this are zero (127/max stays far from overflow)

struct Params {
  n: u32,
  k: u32,
  kb: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> xv: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> qweight: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> scales: array<u32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read> normw: array<f32>;

var<workgroup> xs: array<vec4<f32>, XB * 8u>; // [m][block][8 vec4] f32 after the prologue, swizzled
var<workgroup> xa: array<vec4<u32>, XB>; // [m][block]: even, odd bytes of weight words 0 and 1
var<workgroup> xb: array<vec4<u32>, XB>; // words 2 and 3
var<workgroup> xd: array<vec2<f32>, XB>; // d, 8·Σ qx
var<workgroup> red: array<f32, RED_LEN>;
var<workgroup> nred: array<f32, NRED>;
var<workgroup> ninv: array<f32, 8>;

struct Quad {
  q0: vec4<u32>,
  q1: vec4<u32>,
  q2: vec4<u32>,
  q3: vec4<u32>,
  sw: vec4<u32>,
  sh: vec4<u32>,
}

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

fn quad_scales(qd: Quad) -> vec4<f32> {
  let h = qd.sw >> qd.sh;
  return vec4<f32>(
    unpack2x16float(h.x).x,
    unpack2x16float(h.y).x,
    unpack2x16float(h.z).x,
    unpack2x16float(h.w).x,
  );
}

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

// Staged vec4 v of the chunk starting at block c0: x[m][k0 .. k0 + 3] after the prologue, 0 past K.
fn x_load(c0: u32, v: u32) -> vec4<f32> {
  let m = v / (CHUNK * 8u);
  let k0 = (c0 + (v / 8u) % CHUNK) * 32u + (v % 8u) * 4u;
  var val = x_raw(m, k0, 0u);
  if (XMODE == 1u) {
    let K = p.k;
    let w = vec4<f32>(normw[min(k0, K - 1u)], normw[min(k0 + 1u, K - 1u)], normw[min(k0 + 2u, K - 1u)],
      normw[min(k0 + 3u, K - 1u)]);
    val = val * ninv[min(m, 7u)] * w;
  } else if (XMODE == 2u) {
    val = silu4(val) * x_raw(m, k0, p.k);
  }
  return val;
}

// Vec4 jj of staged block i sits at slot i·8 + (jj ^ (i & 7)): conflict-free for both the stores
// (lanes at consecutive vec4s) and the quantizing reads (lanes at consecutive blocks).
fn xs_slot(i: u32, jj: u32) -> u32 {
  return i * 8u + (jj ^ (i & 7u));
}

fn x_store(v: u32, val: vec4<f32>) {
  xs[xs_slot(v / 8u, v % 8u)] = val;
}

// Four values v·inv rounded to integers (ties to even, as round()), each in the low byte of a word:
// adding 1.5·2^23 leaves round(v·inv) in the low mantissa bits (|v·inv| <= 127), two's complement.
fn q4(v: vec4<f32>, inv: f32) -> vec4<u32> {
  return bitcast<vec4<u32>>(v * inv + vec4<f32>(ROUND)) - vec4<u32>(ROUND_BITS);
}

// Stages x blocks c0 .. c0 + CHUNK - 1 of every x row in two passes. First every thread loads vec4s
// of x (four in flight), applies the prologue and stores them as f32; then one thread per (row,
// block) quantizes the block from workgroup memory.
fn stage_x(c0: u32, lid: u32) {
  for (var v = lid; v < XB * 8u; v += 4u * WG) {
    let a = x_load(c0, v);
    let b = x_load(c0, v + WG);
    let c = x_load(c0, v + 2u * WG);
    let d = x_load(c0, v + 3u * WG);
    x_store(v, a);
    if (v + WG < XB * 8u) { x_store(v + WG, b); }
    if (v + 2u * WG < XB * 8u) { x_store(v + 2u * WG, c); }
    if (v + 3u * WG < XB * 8u) { x_store(v + 3u * WG, d); }
  }
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
  let rb = min(vec4<u32>(row0 + 4u * tr) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u)) * kb;

  var acc = acc_zero();
  for (var c0 = 0u; c0 < kb; c0 += CHUNK) {
    let cn = min(CHUNK, kb - c0);
    var qa = load_quad(rb, c0 + min(tk, cn - 1u));
    if (XMODE == 1u && c0 == 0u) {
      norm_prologue(lid);
    }
    workgroupBarrier();
    stage_x(c0, lid);
    workgroupBarrier();
    for (var b0 = tk; b0 < cn; b0 += TK) {
      var ca = qa;
      let nb = b0 + TK;
      if (PF) {
        if (nb < cn) {
          qa = load_quad(rb, c0 + nb);
        }
      } else if (b0 != tk) {
        ca = load_quad(rb, c0 + b0);
      }
      acc = quad_acc(ca, b0, acc);
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
