// CPU reference of the GPU samplers (the spec). The candidate order and the penalized logits are
// reproduced bit for bit (same f32 roundings as common.wgsl); weights and sums are f64, so the GPU's
// f32 weights differ by rounding: sampleRef flags draws that sit within AMBIGUITY of a decision
// boundary (u near a CDF step, a top-p or min-p cut), where the two may legitimately disagree.
import { samplingUniform } from "./philox.ts";
import type { ResolvedSamplingParams } from "./sampling.ts";

/** |u - C_j / C_{n-1}|, |C_j / C_{k-1} - topP| or |e_j - minP| below this: the draw is ambiguous. */
export const AMBIGUITY = 1e-5;

const f = Math.fround;
const scratch = new DataView(new ArrayBuffer(4));

/** Order-preserving f32 -> u32 key (common.wgsl f32_key). */
export function f32Key(x: number): number {
  scratch.setFloat32(0, x, true);
  const b = scratch.getUint32(0, true);
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

/** a before b in the candidate order: larger logit (by key), then smaller id. */
export function beats(ka: number, ia: number, kb: number, ib: number): boolean {
  return ka > kb || (ka === kb && ia < ib);
}

/** counts after adding a history: prompt sets bit 31, generated adds 1 (penalty_counts.wgsl). */
export function penaltyCountsRef(
  vocab: number,
  history: ArrayLike<number>,
  length: number,
  mode: "prompt" | "generated",
  counts: Uint32Array = new Uint32Array(vocab),
): Uint32Array {
  for (let i = 0; i < length; i++) {
    const id = history[i]!;
    if (id >= vocab) continue;
    counts[id] = mode === "prompt" ? (counts[id]! | 0x80000000) >>> 0 : (counts[id]! + 1) >>> 0;
  }
  return counts;
}

/** The penalized logits x, each f32 rounding as in common.wgsl penalize. */
export function penalizeRef(
  logits: ArrayLike<number>,
  counts: ArrayLike<number>,
  p: ResolvedSamplingParams,
): Float32Array {
  const x = Float32Array.from(logits);
  if (!p.penalize) return x;
  for (let i = 0; i < x.length; i++) {
    const c = counts[i]!;
    if (c === 0) continue;
    const n = c & 0x7fffffff;
    const x0 = x[i]!;
    const xr = f(x0 > 0 ? x0 * p.invRep : x0 * p.rep);
    const pen = f(f(n * p.freq) + (n > 0 ? p.presence : 0));
    x[i] = f(xr - pen);
  }
  return x;
}

/** The best k token ids in the candidate order (best first). */
export function topCandidates(x: Float32Array, k: number): number[] {
  const keys = new Uint32Array(x.length);
  for (let i = 0; i < x.length; i++) keys[i] = f32Key(x[i]!);
  const top: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const ki = keys[i]!;
    if (top.length === k) {
      const w = top[k - 1]!;
      if (!beats(ki, i, keys[w]!, w)) continue;
      top.pop();
    }
    let pos = top.length;
    while (pos > 0 && beats(ki, i, keys[top[pos - 1]!]!, top[pos - 1]!)) pos--;
    top.splice(pos, 0, i);
  }
  return top;
}

/** f64 log-sum-exp of z_i = f32(x_i * invTemperature) over the vocabulary. */
export function logSumExpRef(x: Float32Array, invTemperature: number): number {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, f(x[i]! * invTemperature));
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(f(x[i]! * invTemperature) - m);
  return m + Math.log(s);
}

export interface SampleRefResult {
  token: number;
  /** z_token - logsumexp(z), f64. */
  logprob: number;
  /** Why the GPU may legitimately pick another token, or null. */
  ambiguous: string | null;
  /** Kept candidates (ids, best first) and their probabilities after renormalization. */
  kept: number[];
  probs: number[];
  u: number;
}

/**
 * The token sampleTopK / argmaxSample pick from the penalized logits x at this step (see sampleTopK
 * for the algorithm). kMax = 1 or temperature 0: greedy.
 */
export function sampleRef(
  x: Float32Array,
  p: ResolvedSamplingParams,
  step: number,
  kMax: number,
): SampleRefResult {
  const lse = logSumExpRef(x, p.invTemperature);
  const u = samplingUniform(p.seedLo, p.seedHi, step);
  if (kMax === 1 || p.temperature === 0) {
    const [t] = topCandidates(x, 1);
    return {
      token: t!,
      logprob: f(x[t!]! * p.invTemperature) - lse,
      ambiguous: null,
      kept: [t!],
      probs: [1],
      u,
    };
  }
  const cands = topCandidates(x, kMax);
  const k = p.topK === 0 ? kMax : Math.min(p.topK, kMax);
  const z = cands.slice(0, k).map((i) => f(x[i]! * p.invTemperature));
  const e = z.map((zj) => Math.exp(zj - z[0]!));
  const C: number[] = [];
  let acc = 0;
  for (const ej of e) {
    acc += ej;
    C.push(acc);
  }
  const total = C[k - 1]!;
  const reasons: string[] = [];
  let nMin = 0;
  for (let j = 0; j < k; j++) {
    if (e[j]! >= p.minP) nMin++;
    if (p.minP > 0 && Math.abs(e[j]! - p.minP) < AMBIGUITY) reasons.push(`min-p cut at ${j}`);
  }
  let n = Math.min(k, Math.max(1, nMin));
  if (p.topP < 1) {
    let below = 0;
    for (let j = 0; j < k; j++) {
      if (C[j]! < p.topP * total) below++;
      if (Math.abs(C[j]! / total - p.topP) < AMBIGUITY) reasons.push(`top-p cut at ${j}`);
    }
    n = Math.min(n, below + 1);
  }
  const tn = C[n - 1]!;
  let r = 0;
  for (let j = 0; j < n; j++) {
    if (C[j]! <= u * tn) r++;
    if (j < n - 1 && Math.abs(C[j]! / tn - u) < AMBIGUITY) reasons.push(`u near CDF step ${j}`);
  }
  r = Math.min(r, n - 1);
  const token = cands[r]!;
  return {
    token,
    logprob: z[r]! - lse,
    ambiguous: reasons.length ? reasons.join(", ") : null,
    kept: cands.slice(0, n),
    probs: e.slice(0, n).map((ej) => ej / tn),
    u,
  };
}
