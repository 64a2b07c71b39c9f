/** CPU reference: x + y rounded to f32 (the GPU's f32 add is correctly rounded, so this is exact). */
export function residualAddRef(x: ArrayLike<number>, y: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! + y[i]!;
  return out;
}
