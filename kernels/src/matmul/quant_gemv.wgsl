// The frame of the quantized decode GEMVs, y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]), M = 1..8:
// the work split, the main loop with its weight prefetch, the x staging loop and the sum of the lane
// partials. int4_gemv.ts and int8_gemv.ts concatenate it with a kernel's own file, which defines
//   load_quad(ru, u) -> Quad       unit u of the thread's 4 rows (ru: unit 0 of each row)
//   quad_acc(qd, ul, acc) -> Acc   acc + that quad times staged unit ul of every x row
//   x_load(c0, v), x_store(v, val) the staged vec4 v: loaded (with any prologue) and stored
//   finish_x(lid)                  anything after the staging loop (q8: the quantizing pass)
//   XS_LEN                         vec4s of staged x (an override)
// (int4_gemv.wgsl and int4_gemv_q8.wgsl through int4_gemv_common.wgsl, int8_gemv.wgsl directly).
//
// Work split. A unit is what a lane reads of one row per step: 16 bytes (INT4: a block of 32 weights,
// INT8: half a block). A workgroup owns ROWS = 4·TR consecutive rows of W. Thread (tk, tr) = (lid % TK,
// lid / TK) owns the 4 rows 4·tr .. 4·tr + 3 and the units u ≡ tk (mod TK). Neighbouring lanes read
// neighbouring 16-byte units of one row, so a warp streams contiguous runs of TK·16 bytes; per step a
// thread issues 4·U independent vec4<u32> loads (U units of its 4 rows), which keeps enough bytes in
// flight to saturate HBM, and reuses each x unit across its 4 rows. The math runs on vec4s across the
// 4 rows, and all per-thread state is plain values and structs passed by value (no arrays indexed by
// loop counters, no pointers): a driver that does not unroll such loops puts the arrays in local
// memory (a first version with such arrays ran 1.3-4x slower, erratically across variants, on an
// H100). Every accumulator is initialized by an explicit value: Dawn on SwiftShader did not re-zero a
// loop-local `var` array on each iteration. The TK partial sums of a row meet in workgroup memory at
// the end. Rows past N load row N-1 (in bounds) and are not written.
//
// RMSNorm prologue (XMODE = 1): x is the raw residual stream and the staged x is x·inv·normw, inv =
// 1/sqrt(mean(x²) + eps) per x row. Every workgroup computes mean(x²) itself, in the order the rmsnorm
// kernel uses (256 strided partial sums, then a tree), so the result is the same as an rmsnorm
// dispatch followed by the plain GEMV; main runs it under the first weight loads, x_load applies it.
//
// Code shape. The f32 INT4 kernel is the hot path: main keeps the shape it had as one file (the
// prologue, the barriers and the lane sums inline here, the staging loop a barrier-free function).
// A first split that moved the lane sums and the barriers into helper functions made the
// Llama-3.2-1B decode step 2% slower on an H100 (ARCHITECTURE.md, "One GEMV frame").
//
// x staging. Each lane needs the contiguous x of its unit, so lanes of a warp would touch 32 different
// 128-byte lines per load (one L1 wavefront each, ~8x the coalesced cost). Instead the workgroup
// stages CHUNK units of x in workgroup memory with coalesced loads (chunk by chunk when K is large),
// and lanes read it back as vec4, at swizzled slots that keep both the stores and the reads free of
// bank conflicts (each kernel's x_store says how).

override M: u32 = 1u; // rows of x, 1..8
override TK: u32 = 32u; // lanes along K per row group (power of two)
override TR: u32 = 8u; // row groups (of 4 rows) per workgroup
override U: u32 = 1u; // units per thread per step, 1 or 2 (more loads in flight)
override CHUNK: u32 = 64u; // x units staged at a time
override HAS_BIAS: bool = false;
override XV: bool = false; // K % 4 == 0: stage x with vec4 loads through xv
override PF: bool = true; // prefetch the next step's weights during this step's math
override RESID: bool = false; // y += x·Wᵀ (+ bias) instead of y =
override XMODE: u32 = 0u; // x prologue, INT4 only (int4_gemv_common.wgsl): 1 RMSNorm(x)·normw, 2 SwiGLU

override WG: u32 = TK * TR;
override ROWS: u32 = TR * 4u;
override RED_LEN: u32 = ROWS * (TK + 1u); // partial sums of one x row, padded rows: conflict-free
override NRED: u32 = select(1u, NORM_LANES, XMODE == 1u); // mean(x²) partials (norm prologue only)

const NORM_LANES = 256u; // the rmsnorm kernel's workgroup size: its summation order

struct Params {
  n: u32,
  k: u32,
  nu: u32, // units per row of W
  eps: f32, // RMSNorm epsilon (XMODE = 1)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (M, K)
@group(0) @binding(2) var<storage, read> xv: array<vec4<f32>>; // (M, K/4), same buffer as x
@group(0) @binding(3) var<storage, read> qweight: array<vec4<u32>>; // (N, nu)
@group(0) @binding(4) var<storage, read> scales: array<u32>; // f16 pairs
@group(0) @binding(5) var<storage, read> bias: array<f32>; // (N); a 16-byte dummy when !HAS_BIAS
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // (M, N)
@group(0) @binding(7) var<storage, read> normw: array<f32>; // (K) RMSNorm weight; a dummy unless XMODE = 1

var<workgroup> xs: array<vec4<f32>, XS_LEN>; // [m][unit][vec4s of a unit], swizzled
var<workgroup> red: array<f32, RED_LEN>; // [local row][TK + 1]
var<workgroup> nred: array<f32, NRED>; // mean(x²) partials of one x row
var<workgroup> ninv: array<f32, 8>; // 1/sqrt(mean(x²) + eps) per x row

// One unit of the thread's 4 rows: qn = row n's 16 bytes; sw = the 4 words holding their f16 scales,
// sh = each scale's bit offset in its word. The scales stay raw until the math uses them: decoding them
// at load time makes the thread wait for the load right there, so the next step's loads would not
// overlap this step's math (measured on the H200: 5% of a Llama-3.2-1B decode step; the INT8 lm_head
// went from 108 to 85 µs).
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

// x[m][off + k0 .. off + k0 + 3] of M rows of `row` floats, 0 past K.
fn x_vec4(m: u32, k0: u32, row: u32, off: u32) -> vec4<f32> {
  let K = p.k;
  let last = M * row - 1u;
  let base = min(m * row + off + k0, last); // m >= M only past the staging range (value unused)
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

// Stages vec4s 0 .. XS_LEN - 1 of the chunk starting at unit c0. Four loads go out before their
// stores, so a thread waits for one L2 round trip per four vec4s instead of one per vec4.
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
  let nu = p.nu;
  // Unit 0 of this thread's 4 rows (rows past N clamped: in-bounds loads, never written).
  let ru = min(vec4<u32>(row0 + 4u * tr) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u)) * nu;

  var acc = acc_zero();
  let step = TK * U;
  for (var c0 = 0u; c0 < nu; c0 += CHUNK) {
    let cn = min(CHUNK, nu - c0);
    // The chunk's first step of weights goes out before the x staging (weights do not depend on x),
    // so DRAM latency overlaps the staging (and any prologue) and its barriers. qb: unit + TK (U = 2).
    var qa = load_quad(ru, c0 + min(tk, cn - 1u));
    var qb = qa;
    if (U > 1u) {
      qb = load_quad(ru, c0 + min(tk + TK, cn - 1u));
    }
    if (XMODE == 1u && c0 == 0u) {
      norm_prologue(lid); // under the first weight loads
    }
    workgroupBarrier(); // the previous chunk's readers are done
    stage_x(c0, lid);
    finish_x(lid);
    workgroupBarrier();
    for (var u0 = tk; u0 < cn; u0 += step) {
      var ca = qa;
      var cb = qb;
      let nx = u0 + step;
      if (PF) {
        // The next step's loads go out before this step's math: two steps in flight per thread.
        if (nx < cn) {
          qa = load_quad(ru, c0 + nx);
          if (U > 1u) {
            qb = load_quad(ru, c0 + min(nx + TK, cn - 1u));
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

