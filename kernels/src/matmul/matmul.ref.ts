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
