/**
 * CPU reference for every matmul (f64 accumulation): y[m][n] = Σ_k x[m][k]·w[n][k] + bias[n].
 * x: (M, K); w: (N, K) dense (dequantize INT4 first with dequantizeInt4); bias: (N) or undefined.
 */
export function matmulRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  bias?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = bias ? bias[j]! : 0;
      for (let t = 0; t < k; t++) acc += x[i * k + t]! * w[j * k + t]!;
      y[i * n + j] = acc;
    }
  }
  return y;
}

/** WGSL's round(): to the nearest integer, ties to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * x (m, k) as the q8 GEMV sees it (int4_gemv_q8.wgsl): per block of 32 k of each row, d = max|x|/127
 * and q = round(x·(127/max|x|)) clamped to ±127, in f32 steps (a block with max|x| < 1e-30 is zero);
 * returns q·d. The kernel's divisions may
 * round differently by an ulp, which can move a value that sits at a rounding tie by one step of d.
 */
export function quantizeQ8Ref(x: ArrayLike<number>, m: number, k: number): Float64Array {
  const f = Math.fround;
  const out = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let b0 = 0; b0 < k; b0 += 32) {
      const end = Math.min(b0 + 32, k);
      let amax = 0;
      for (let t = b0; t < end; t++) amax = Math.max(amax, Math.abs(f(x[i * k + t]!)));
      const big = amax >= Math.fround(1e-30); // the kernel's TINY: smaller blocks are zero
      const d = big ? f(amax / 127) : 0;
      const inv = big ? f(127 / amax) : 0;
      for (let t = b0; t < end; t++) {
        const q = Math.max(-127, Math.min(127, roundHalfEven(f(f(x[i * k + t]!) * inv))));
        out[i * k + t] = q * d;
      }
    }
  }
  return out;
}
