// Dense GEMV for decode: y[m][n] = Σ_k x[m][k]·W[n][k] (+ bias[n]), M = 1..8, W unquantized:
//   F16 = false: W (N, K) f32 row-major.
//   F16 = true:  W (N, K) f16 packed two per u32 over the flat row-major array (element e in the low half
//                of word e/2 when e is even), read with unpack2x16float.
//   x: (M, K) f32 row-major           y: (M, N) f32 row-major            bias: (N) f32
// x and W are each bound twice: as scalars (x, w) and as vec4 (xv, wv), same buffers.
//
// Work split as in int4_gemv: a workgroup owns ROWS = TR·RPT consecutive rows; thread (tk, tr) owns rows
// tr·RPT + r and, with VEC, the vec4s i ≡ tk (mod TK) of each row (4 f32 or 8 f16 weights), so a
// warp reads TK·16 contiguous bytes of a row per load and issues RPT·U independent 16-byte loads per
// step. x is read straight from global memory: consecutive lanes read consecutive 16 or 32 bytes of it
// (coalesced, L1/L2 hits), once per step, reused across the RPT rows. The TK partials of a row meet in
// workgroup memory.
//
// VEC (a pipeline constant, chosen by the host) needs every row to start on a 16-byte boundary:
// K % 4 == 0 for f32, K % 8 == 0 for f16. Otherwise the kernel walks single elements (any K, f16 K odd
// included) — correct for any shape, meant for small models only.

override M: u32 = 1u; // rows of x, 1..8
override TK: u32 = 32u; // lanes along K per row group (power of two)
override TR: u32 = 8u; // row groups per workgroup
override RPT: u32 = 4u; // rows per thread, 1..8
override U: u32 = 1u; // vec4s per thread per step, 1..4
override F16: bool = true;
override VEC: bool = true;
override HAS_BIAS: bool = false;

override WG: u32 = TK * TR;
override ROWS: u32 = TR * RPT;
override RED_LEN: u32 = ROWS * (TK + 1u); // padded rows: conflict-free column sums

const MAX_RPT = 8u;
const MAX_ACC = 64u; // M·RPT

struct Params {
  n: u32,
  k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (M, K)
@group(0) @binding(2) var<storage, read> xv: array<vec4<f32>>; // (M, K/4), same buffer as x
@group(0) @binding(3) var<storage, read> w: array<u32>; // (N·K) f32 bits, or (ceil(N·K/2)) f16 pairs
@group(0) @binding(4) var<storage, read> wv: array<vec4<u32>>; // same buffer as w
@group(0) @binding(5) var<storage, read> bias: array<f32>; // (N); a 16-byte dummy when !HAS_BIAS
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // (M, N)

var<workgroup> red: array<f32, RED_LEN>; // [local row][TK + 1]

fn dot4(a: vec4<f32>, b: vec4<f32>, acc: f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc))));
}

// Element e of the flat W.
fn w_at(e: u32) -> f32 {
  if (F16) {
    let h = unpack2x16float(w[e >> 1u]);
    return select(h.x, h.y, (e & 1u) == 1u);
  }
  return bitcast<f32>(w[e]);
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
  let K = p.k;

  // Rows past N are clamped to N - 1: in-bounds loads, never written.
  var rows: array<u32, MAX_RPT>;
  for (var r = 0u; r < RPT; r++) {
    rows[r] = min(row0 + tr * RPT + r, p.n - 1u);
  }
  var acc: array<f32, MAX_ACC>; // [m·RPT + r], zero-initialized

  if (VEC) {
    let per = select(4u, 8u, F16); // weights per vec4<u32>
    let nv = K / per; // vec4s per row
    let xrow = K / 4u; // vec4s per x row
    for (var i0 = tk; i0 < nv; i0 += TK * U) {
      // Issue every weight load of this step before any math.
      var q: array<vec4<u32>, 32>; // [u·RPT + r]
      for (var u = 0u; u < U; u++) {
        let i = min(i0 + u * TK, nv - 1u);
        for (var r = 0u; r < RPT; r++) {
          q[u * RPT + r] = wv[rows[r] * nv + i];
        }
      }
      for (var u = 0u; u < U; u++) {
        let i = i0 + u * TK;
        if (i < nv) {
          for (var m = 0u; m < M; m++) {
            if (F16) {
              let xa = xv[m * xrow + 2u * i];
              let xb = xv[m * xrow + 2u * i + 1u];
              for (var r = 0u; r < RPT; r++) {
                let v = q[u * RPT + r];
                let wa = vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
                let wb = vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w));
                let a = m * RPT + r;
                acc[a] = dot4(wb, xb, dot4(wa, xa, acc[a]));
              }
            } else {
              let xa = xv[m * xrow + i];
              for (var r = 0u; r < RPT; r++) {
                let a = m * RPT + r;
                acc[a] = dot4(bitcast<vec4<f32>>(q[u * RPT + r]), xa, acc[a]);
              }
            }
          }
        }
      }
    }
  } else {
    for (var e = tk; e < K; e += TK) {
      var wr: array<f32, MAX_RPT>;
      for (var r = 0u; r < RPT; r++) {
        wr[r] = w_at(rows[r] * K + e);
      }
      for (var m = 0u; m < M; m++) {
        let xe = x[m * K + e];
        for (var r = 0u; r < RPT; r++) {
          acc[m * RPT + r] = fma(wr[r], xe, acc[m * RPT + r]);
        }
      }
    }
  }

  // Sum the TK partials of each row, one x row at a time (bounded workgroup memory for any M).
  for (var m = 0u; m < M; m++) {
    workgroupBarrier(); // readers of the previous round are done
    for (var r = 0u; r < RPT; r++) {
      red[(tr * RPT + r) * (TK + 1u) + tk] = acc[m * RPT + r];
    }
    workgroupBarrier();
    for (var lr = lid; lr < ROWS; lr += WG) {
      let n = row0 + lr;
      if (n < p.n) {
        var s = 0.0;
        for (var t = 0u; t < TK; t++) {
          s += red[lr * (TK + 1u) + t];
        }
        if (HAS_BIAS) {
          s += bias[n];
        }
        y[m * p.n + n] = s;
      }
    }
  }
}
