// Tolerances are stated per kernel by the caller; these functions only measure and fail loudly.

export interface ErrorReport {
  /** ||out - ref||_2 / ||ref||_2 */
  relNorm: number;
  /** max |out - ref| / max |ref| */
  relMax: number;
  maxAbs: number;
  worstIndex: number;
}

export function measureError(out: ArrayLike<number>, ref: ArrayLike<number>): ErrorReport {
  if (out.length !== ref.length) throw new Error(`length mismatch: got ${out.length}, want ${ref.length}`);
  let num = 0;
  let den = 0;
  let maxAbs = 0;
  let maxRef = 0;
  let worstIndex = -1;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i]!;
    const r = ref[i]!;
    if (!Number.isFinite(o)) throw new Error(`non-finite output ${o} at index ${i} (reference ${r})`);
    const d = Math.abs(o - r);
    num += d * d;
    den += r * r;
    if (d > maxAbs) {
      maxAbs = d;
      worstIndex = i;
    }
    maxRef = Math.max(maxRef, Math.abs(r));
  }
  return {
    relNorm: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num),
    relMax: maxRef > 0 ? maxAbs / maxRef : maxAbs,
    maxAbs,
    worstIndex,
  };
}

/** Throws unless the relative norm error is within tol (and nothing is NaN/Inf). */
export function expectClose(
  out: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol: { relNorm: number; relMax?: number },
  what = "output",
): ErrorReport {
  const e = measureError(out, ref);
  const bad = e.relNorm > tol.relNorm || (tol.relMax !== undefined && e.relMax > tol.relMax);
  if (bad) {
    const i = e.worstIndex;
    throw new Error(
      `${what}: relNorm ${e.relNorm.toExponential(3)} (tol ${tol.relNorm}), relMax ${e.relMax.toExponential(3)}` +
        `${tol.relMax !== undefined ? ` (tol ${tol.relMax})` : ""}; worst at ${i}: got ${out[i]}, want ${ref[i]}`,
    );
  }
  return e;
}

export function expectEqualWords(out: ArrayLike<number>, ref: ArrayLike<number>, what = "output"): void {
  if (out.length !== ref.length) throw new Error(`${what}: length ${out.length}, want ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    if (out[i] !== ref[i]) throw new Error(`${what}: word ${i} is ${out[i]}, want ${ref[i]} (bit-exact)`);
  }
}
