// CPU references (f64) for RoPE, per-head RMSNorm and the fused RoPE + paged KV append.
import type { QkvLayout } from "./rope.ts";

/**
 * Rotate-half RoPE of one head vector x (headDim) at position pos, in f64. With invFreq holding f32
 * values and pos < 2^29, pos·invFreq[i] is exact in f64 and Math.cos/sin reduce large angles exactly.
 */
export function ropeHeadRef(x: ArrayLike<number>, pos: number, invFreq: ArrayLike<number>): Float64Array {
  const half = invFreq.length;
  const out = new Float64Array(2 * half);
  for (let i = 0; i < half; i++) {
    const a = pos * invFreq[i]!;
    const c = Math.cos(a);
    const s = Math.sin(a);
    const x0 = x[i]!;
    const x1 = x[i + half]!;
    out[i] = x0 * c - x1 * s;
    out[i + half] = x1 * c + x0 * s;
  }
  return out;
}

/** Per-head RMSNorm (Qwen3 q_norm/k_norm): x / sqrt(mean(x²) + eps) · w, in f64. */
export function rmsNormHeadRef(x: ArrayLike<number>, w: ArrayLike<number>, eps: number): Float64Array {
  const n = w.length;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[i]! ** 2;
  const inv = 1 / Math.sqrt(ss / n + eps);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = x[i]! * inv * w[i]!;
  return out;
}

export interface RopeKvAppendRefArgs {
  tokens: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  layout: QkvLayout;
  pos0: number;
  /** (pages) logical → physical page. */
  pageTable: ArrayLike<number>;
  /** Cache capacity in slots (numPages · 16). */
  cacheSlots: number;
  /** (headDim/2) as the kernel sees them (f32 values). */
  invFreq: ArrayLike<number>;
  qkNorm?: { eps: number; qWeight: ArrayLike<number>; kWeight: ArrayLike<number> };
}

/**
 * What ropeKvAppend leaves behind: qkv with q roped (normed) in place, and the caches with the slots
 * of positions pos0 .. pos0+T-1 overwritten. Returns f64 copies of all three and the set of cache
 * value indices written (everything else must be untouched).
 */
export function ropeKvAppendRef(
  args: RopeKvAppendRefArgs,
  qkv: ArrayLike<number>,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
) {
  const { tokens, nHeads, nKvHeads, headDim, layout: l, pos0, pageTable, cacheSlots, invFreq, qkNorm } = args;
  const qkvOut = Float64Array.from(qkv);
  const kOut = Float64Array.from(kCache);
  const vOut = Float64Array.from(vCache);
  const written = new Uint8Array(kCache.length);
  const head = (off: number) => {
    const x = new Float64Array(headDim);
    for (let d = 0; d < headDim; d++) x[d] = qkv[off + d]!;
    return x;
  };
  for (let t = 0; t < tokens; t++) {
    const pos = pos0 + t;
    for (let h = 0; h < nHeads; h++) {
      const off = l.qOffset + t * l.qStride + h * headDim;
      let x: ArrayLike<number> = head(off);
      if (qkNorm) x = rmsNormHeadRef(x, qkNorm.qWeight, qkNorm.eps);
      qkvOut.set(ropeHeadRef(x, pos, invFreq), off);
    }
    const page = Math.floor(pos / 16);
    const slot = page < pageTable.length ? pageTable[page]! * 16 + (pos % 16) : -1;
    if (slot < 0 || slot >= cacheSlots) continue;
    for (let h = 0; h < nKvHeads; h++) {
      const dst = (slot * nKvHeads + h) * headDim;
      let k: ArrayLike<number> = head(l.kOffset + t * l.kStride + h * headDim);
      if (qkNorm) k = rmsNormHeadRef(k, qkNorm.kWeight, qkNorm.eps);
      kOut.set(ropeHeadRef(k, pos, invFreq), dst);
      vOut.set(head(l.vOffset + t * l.vStride + h * headDim), dst);
      written.fill(1, dst, dst + headDim);
    }
  }
  return { qkv: qkvOut, kCache: kOut, vCache: vOut, written };
}
