/** CPU reference (f64 accumulation). x: (rows, dim); weight: (dim). */
export function rmsNormRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  rows: number,
  dim: number,
  eps: number,
) {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = x[r * dim + i]! * inv * weight[i]!;
  }
  return out;
}
