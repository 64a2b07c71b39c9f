// CPU reference for causal attention over the paged KV cache (f64, max-subtracted softmax, GQA).

/** Tokens per KV-cache page (kernels/README.md, "KV cache layout (paged)"). */
const PAGE = 16;

export interface AttentionRefShape {
  /** New query tokens T, at positions pos0 .. pos0+T-1. */
  tokens: number;
  pos0: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Softmax scale; default 1/sqrt(headDim). */
  scale?: number;
  /** Element offset of q[0][0][0] in `q`; default 0. */
  qOffset?: number;
  /** Elements between consecutive tokens of q; default nHeads·headDim. */
  qRowStride?: number;
}

/**
 * out[t][h] = Σ_{j ≤ pos0+t} softmax_j(scale · q[t][h]·k[j][kvh]) · v[j][kvh], kvh = h / (nHeads/nKvHeads).
 * q: element (t, h, d) at q[qOffset + t·qRowStride + h·headDim + d].
 * k, v: (numPages·16, nKvHeads, headDim); key j in slot pageTable[j/16]·16 + j%16.
 * Returns out: (T, nHeads, headDim) in f64.
 */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  pageTable: ArrayLike<number>,
  shape: AttentionRefShape,
): Float64Array {
  const { tokens, pos0, nHeads, nKvHeads, headDim: hd } = shape;
  const scale = shape.scale ?? 1 / Math.sqrt(hd);
  const qOffset = shape.qOffset ?? 0;
  const qRowStride = shape.qRowStride ?? nHeads * hd;
  const group = nHeads / nKvHeads;
  if (!Number.isInteger(group)) throw new Error(`nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const kvLen = pos0 + tokens;
  const slotOf = (j: number) => pageTable[Math.floor(j / PAGE)]! * PAGE + (j % PAGE);
  const out = new Float64Array(tokens * nHeads * hd);
  const scores = new Float64Array(kvLen);
  for (let t = 0; t < tokens; t++) {
    const last = pos0 + t;
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / group);
      const qBase = qOffset + t * qRowStride + h * hd;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        const kBase = (slotOf(j) * nKvHeads + kvh) * hd;
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[qBase + d]! * k[kBase + d]!;
        s *= scale;
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        const e = Math.exp(scores[j]! - max);
        scores[j] = e;
        sum += e;
      }
      const oBase = (t * nHeads + h) * hd;
      for (let j = 0; j <= last; j++) {
        const w = scores[j]! / sum;
        const vBase = (slotOf(j) * nKvHeads + kvh) * hd;
        for (let d = 0; d < hd; d++) out[oBase + d] = out[oBase + d]! + w * v[vBase + d]!;
      }
    }
  }
  return out;
}
