// The INT4 side of the quantized GEMV frame (quant_gemv.wgsl, concatenated before this file), shared by
// int4_gemv.wgsl (f32 math) and int4_gemv_q8.wgsl (8-bit x), concatenated after it: the weight
// format, the x prologues as x is staged (x_prologue), and where staged x goes (xs_slot, x_store).
//   x: (M, K) f32 row-major (XMODE = 2: (M, 2K))   y: (M, N) f32 row-major   bias: (N) f32
//   qweight: (N·kb) vec4<u32>, scales: (ceil(N·kb/2)) u32 of packed f16 — src/format/int4.ts:
//   block (n, b) holds k = 32b + 8j + i in bits 4i..4i+3 of word j; w = (q - 8)·scale(n, b).
// A unit is one block (32 k, 8 staged vec4); p.nu = kb = ceil(K / 32). Vec4 jj of staged block i
// (i = m·CHUNK + the block within the chunk) sits at slot i·8 + (jj ^ (i & 7)): the 8 lanes of a
// 128-byte phase then hit 8 different bank quads, both when storing consecutive vec4s and when
// reading one vec4 of consecutive blocks.
//
// Fusions (decode removes a dispatch and a pass over memory for each):
//   XMODE = 1, RMSNorm prologue (quant_gemv.wgsl: norm_prologue; applied here as x is staged).
//   XMODE = 2, SwiGLU prologue: x is the fused gate_up (M, 2K) and the staged x is silu(gate)·up.
//   RESID (the frame), residual epilogue: y[m][n] += the result (y is the residual stream).

override XS_LEN: u32 = M * CHUNK * 8u; // vec4s of staged x
override XROW: u32 = select(1u, 2u, XMODE == 2u); // x row length in units of K

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

// Slot of vec4 jj of staged block i (the swizzle above).
fn xs_slot(i: u32, jj: u32) -> u32 {
  return i * 8u + (jj ^ (i & 7u));
}

// Stores staged vec4 v (as f32) at its swizzled slot; the f32 kernel's x_load has pre-scaled it.
fn x_store(v: u32, val: vec4<f32>) {
  xs[xs_slot(v / 8u, v % 8u)] = val;
}

// Staged vec4 v of the chunk starting at block c0: x[m][k0 .. k0 + 3] after the prologue, 0 past K
// (each kernel's x_load).
fn x_prologue(c0: u32, v: u32) -> vec4<f32> {
  let m = v / (CHUNK * 8u);
  let k0 = (c0 + (v / 8u) % CHUNK) * 32u + (v % 8u) * 4u;
  var val = x_vec4(m, k0, XROW * p.k, 0u);
  if (XMODE == 1u) {
    let K = p.k;
    let w = vec4<f32>(normw[min(k0, K - 1u)], normw[min(k0 + 1u, K - 1u)], normw[min(k0 + 2u, K - 1u)],
      normw[min(k0 + 3u, K - 1u)]);
    val = val * ninv[min(m, 7u)] * w;
  } else if (XMODE == 2u) {
    val = silu4(val) * x_vec4(m, k0, XROW * p.k, p.k);
  }
  return val;
}

// silu(x) = x / (1 + exp(-x)) as the swiglu kernel computes it (exp only sees -|x|).
fn silu4(x: vec4<f32>) -> vec4<f32> {
  let e = exp(-abs(x));
  let r = vec4<f32>(1.0) / (vec4<f32>(1.0) + e);
  return select(x * e * r, x * r, x >= vec4<f32>(0.0));
}
