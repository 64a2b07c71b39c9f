// An independent CPU reference for stories260K: llama2.c's run.c forward pass (f64), reading the
// original llama2.c checkpoint (original/stories260K.bin) with its interleaved RoPE — no code shared
// with the runtime, so a loader or layout bug in Wisp cannot hide in the reference too.

export interface Llama2cModel {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  w: Record<string, Float32Array>;
}

export function readLlama2c(bytes: Uint8Array): Llama2cModel {
  const head = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 28));
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = Array.from(head) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const vocab = Math.abs(vocabSigned);
  const f = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 28));
  const hs = dim / heads;
  const kvDim = kvHeads * hs;
  let o = 0;
  const take = (n: number) => {
    o += n;
    return f.subarray(o - n, o);
  };
  const w: Record<string, Float32Array> = {};
  w.emb = take(vocab * dim);
  w.rmsAtt = take(layers * dim);
  w.wq = take(layers * dim * dim);
  w.wk = take(layers * dim * kvDim);
  w.wv = take(layers * dim * kvDim);
  w.wo = take(layers * dim * dim);
  w.rmsFfn = take(layers * dim);
  w.w1 = take(layers * hidden * dim);
  w.w2 = take(layers * dim * hidden);
  w.w3 = take(layers * hidden * dim);
  w.rmsFinal = take(dim);
  take(seqLen * hs); // freq_cis_real (unused: recomputed as run.c does)
  take(seqLen * hs);
  w.cls = vocabSigned > 0 ? w.emb : take(vocab * dim);
  return { dim, hidden, layers, heads, kvHeads, vocab, seqLen, w };
}

const matvec = (
  out: Float64Array,
  x: ArrayLike<number>,
  w: Float32Array,
  off: number,
  n: number,
  d: number,
) => {
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += w[off + i * n + j]! * x[j]!;
    out[i] = s;
  }
};

function rmsnorm(x: Float64Array, w: Float32Array, off: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + 1e-5);
  return x.map((v, i) => v * inv * w[off + i]!);
}

/** A stateful forward (run.c's `forward`): logits for `token` at `pos`, KV cache kept inside. */
export function llama2cForward(m: Llama2cModel): (token: number, pos: number) => Float64Array {
  const { dim, hidden, heads, kvHeads } = m;
  const hs = dim / heads;
  const kvDim = kvHeads * hs;
  const kc = Array.from({ length: m.layers }, () => new Float64Array(m.seqLen * kvDim));
  const vc = Array.from({ length: m.layers }, () => new Float64Array(m.seqLen * kvDim));
  return (token, pos) => {
    const x = Float64Array.from(m.w.emb!.subarray(token * dim, (token + 1) * dim));
    for (let l = 0; l < m.layers; l++) {
      const xb = rmsnorm(x, m.w.rmsAtt!, l * dim);
      const q = new Float64Array(dim);
      const k = new Float64Array(kvDim);
      const v = new Float64Array(kvDim);
      matvec(q, xb, m.w.wq!, l * dim * dim, dim, dim);
      matvec(k, xb, m.w.wk!, l * dim * kvDim, dim, kvDim);
      matvec(v, xb, m.w.wv!, l * dim * kvDim, dim, kvDim);
      // llama2.c's RoPE: adjacent pairs (i, i+1) rotated by pos · 10000^(-(i mod hs)/hs)
      for (let i = 0; i < dim; i += 2) {
        const freq = 1 / 10000 ** ((i % hs) / hs);
        const c = Math.cos(pos * freq);
        const s = Math.sin(pos * freq);
        for (const vec of i < kvDim ? [q, k] : [q]) {
          const a = vec[i]!;
          const b = vec[i + 1]!;
          vec[i] = a * c - b * s;
          vec[i + 1] = a * s + b * c;
        }
      }
      kc[l]!.set(k, pos * kvDim);
      vc[l]!.set(v, pos * kvDim);
      const att = new Float64Array(dim);
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / (heads / kvHeads));
        const scores = new Float64Array(pos + 1);
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q[h * hs + i]! * kc[l]![t * kvDim + kvh * hs + i]!;
          scores[t] = s / Math.sqrt(hs);
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += scores[t] = Math.exp(scores[t]! - max);
        for (let t = 0; t <= pos; t++) {
          for (let i = 0; i < hs; i++)
            att[h * hs + i]! += (scores[t]! / sum) * vc[l]![t * kvDim + kvh * hs + i]!;
        }
      }
      const o = new Float64Array(dim);
      matvec(o, att, m.w.wo!, l * dim * dim, dim, dim);
      for (let i = 0; i < dim; i++) x[i]! += o[i]!;
      const xb2 = rmsnorm(x, m.w.rmsFfn!, l * dim);
      const h1 = new Float64Array(hidden);
      const h3 = new Float64Array(hidden);
      matvec(h1, xb2, m.w.w1!, l * hidden * dim, dim, hidden);
      matvec(h3, xb2, m.w.w3!, l * hidden * dim, dim, hidden);
      for (let i = 0; i < hidden; i++) h1[i] = (h1[i]! / (1 + Math.exp(-h1[i]!))) * h3[i]!;
      const down = new Float64Array(dim);
      matvec(down, h1, m.w.w2!, l * dim * hidden, hidden, dim);
      for (let i = 0; i < dim; i++) x[i]! += down[i]!;
    }
    const xf = rmsnorm(x, m.w.rmsFinal!, 0);
    const logits = new Float64Array(m.vocab);
    matvec(logits, xf, m.w.cls!, 0, dim, m.vocab);
    return logits;
  };
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
