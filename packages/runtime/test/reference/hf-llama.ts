// An independent f64 CPU forward pass of transformers' LlamaForCausalLM / Qwen2ForCausalLM /
// Qwen3ForCausalLM (modeling_llama.py, modeling_qwen2.py, modeling_qwen3.py, eager attention), read
// from an HF config.json object and HF-named weights. No code is shared with the runtime (its config
// parser, loader and kernels): a bug there cannot hide here too. What it follows, line by line:
//   - RMSNorm: x · rsqrt(mean(x²) + eps) · w
//   - q/k/v projections (+ bias for Qwen2; o_proj never has one), then for Qwen3 q_norm/k_norm
//     (RMSNorm over head_dim, per head) BEFORE RoPE
//   - rotate-half RoPE: out = x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x[d/2:], x[:d/2]),
//     inv_freq = 1 / θ^(2i/d) adjusted per rope type (default, linear: / factor, llama3:
//     _compute_llama3_parameters' wavelength bands)
//   - GQA: query head h reads KV head floor(h / (heads / kv_heads)) (repeat_kv)
//   - causal softmax(q·kᵀ / √head_dim) with max subtraction
//   - MLP down(silu(gate(x)) · up(x)); residual adds; final norm; lm_head (embed_tokens when tied)

export type HfConfig = Record<string, unknown>;

export interface RefArch {
  hidden: number;
  inter: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  qkvBias: boolean;
  qkNorm: boolean;
  tied: boolean;
  invFreq: Float64Array;
}

const num = (c: HfConfig, key: string, fallback?: number): number => {
  const v = c[key] ?? fallback;
  if (typeof v !== "number") throw new Error(`config.${key} is missing`);
  return v;
};

/** transformers' ROPE_INIT_FUNCTIONS for "default", "linear" and "llama3", in f64. */
export function refInvFreq(c: HfConfig, headDim: number): Float64Array {
  const base = num(c, "rope_theta", 10000);
  const inv = new Float64Array(headDim / 2);
  for (let i = 0; i < inv.length; i++) inv[i] = 1 / base ** ((2 * i) / headDim);
  const r = c["rope_scaling"] as Record<string, number | string> | null | undefined;
  const type = r ? (r["rope_type"] ?? r["type"]) : "default";
  if (type === "default") return inv;
  if (type === "linear") return inv.map((f) => f / (r!["factor"] as number));
  if (type !== "llama3") throw new Error(`reference: rope type ${String(type)}`);
  const factor = r!["factor"] as number;
  const low = r!["low_freq_factor"] as number;
  const high = r!["high_freq_factor"] as number;
  const old = r!["original_max_position_embeddings"] as number;
  const lowWavelen = old / low;
  const highWavelen = old / high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    // inv_freq_llama = where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    const llama = wavelen > lowWavelen ? f / factor : f;
    const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    if (!medium) return llama;
    const smooth = (old / wavelen - low) / (high - low);
    return ((1 - smooth) * llama) / factor + smooth * llama;
  });
}

export function refArch(c: HfConfig): RefArch {
  const hidden = num(c, "hidden_size");
  const heads = num(c, "num_attention_heads");
  const headDim = num(c, "head_dim", hidden / heads);
  const type = c["model_type"];
  if (type !== "llama" && type !== "qwen2" && type !== "qwen3") throw new Error(`reference: ${String(type)}`);
  return {
    hidden,
    inter: num(c, "intermediate_size"),
    layers: num(c, "num_hidden_layers"),
    heads,
    kvHeads: num(c, "num_key_value_heads", heads),
    headDim,
    vocab: num(c, "vocab_size"),
    eps: num(c, "rms_norm_eps", 1e-6),
    qkvBias: type === "qwen2",
    qkNorm: type === "qwen3",
    tied: c["tie_word_embeddings"] === true,
    invFreq: refInvFreq(c, headDim),
  };
}

type Weights = ReadonlyMap<string, ArrayLike<number>>;

/** out = W·x (+ b), W (n, k) row-major. */
function linear(w: ArrayLike<number>, x: Float64Array, n: number, b?: ArrayLike<number>): Float64Array {
  const k = x.length;
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    const o = r * k;
    for (let j = 0; j < k; j++) s += w[o + j]! * x[j]!;
    out[r] = s + (b ? b[r]! : 0);
  }
  return out;
}

/** RMSNorm of x[off, off + len) in place. */
function rmsNormInPlace(x: Float64Array, off: number, len: number, w: ArrayLike<number>, eps: number): void {
  let ss = 0;
  for (let i = 0; i < len; i++) ss += x[off + i]! ** 2;
  const inv = 1 / Math.sqrt(ss / len + eps);
  for (let i = 0; i < len; i++) x[off + i] = x[off + i]! * inv * w[i]!;
}

/** A stateful decoder: step(token) runs the next position (KV cache kept) and returns its logits. */
export class HfLlamaReference {
  readonly arch: RefArch;
  private readonly k: Float64Array[][] = [];
  private readonly v: Float64Array[][] = [];
  private pos = 0;

  constructor(
    config: HfConfig,
    private readonly w: Weights,
  ) {
    this.arch = refArch(config);
    for (let l = 0; l < this.arch.layers; l++) {
      this.k.push([]);
      this.v.push([]);
    }
  }

  private get(name: string): ArrayLike<number> {
    const t = this.w.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t;
  }

  private rope(x: Float64Array, nHeads: number, pos: number): void {
    const { headDim: hd, invFreq } = this.arch;
    const half = hd / 2;
    for (let i = 0; i < half; i++) {
      const c = Math.cos(pos * invFreq[i]!);
      const s = Math.sin(pos * invFreq[i]!);
      for (let h = 0; h < nHeads; h++) {
        const o = h * hd;
        const x0 = x[o + i]!;
        const x1 = x[o + i + half]!;
        x[o + i] = x0 * c - x1 * s;
        x[o + i + half] = x1 * c + x0 * s;
      }
    }
  }

  step(token: number): Float64Array {
    const a = this.arch;
    const { hidden: H, headDim: hd } = a;
    const pos = this.pos++;
    const embed = this.get("model.embed_tokens.weight");
    const x = new Float64Array(H);
    for (let i = 0; i < H; i++) x[i] = embed[token * H + i]!;
    const group = a.heads / a.kvHeads;
    for (let l = 0; l < a.layers; l++) {
      const p = `model.layers.${l}`;
      const at = `${p}.self_attn`;
      const h = Float64Array.from(x);
      rmsNormInPlace(h, 0, H, this.get(`${p}.input_layernorm.weight`), a.eps);
      const bias = (n: string) => (a.qkvBias ? this.get(`${at}.${n}.bias`) : undefined);
      const q = linear(this.get(`${at}.q_proj.weight`), h, a.heads * hd, bias("q_proj"));
      const k = linear(this.get(`${at}.k_proj.weight`), h, a.kvHeads * hd, bias("k_proj"));
      const v = linear(this.get(`${at}.v_proj.weight`), h, a.kvHeads * hd, bias("v_proj"));
      if (a.qkNorm) {
        for (let i = 0; i < a.heads; i++)
          rmsNormInPlace(q, i * hd, hd, this.get(`${at}.q_norm.weight`), a.eps);
        for (let i = 0; i < a.kvHeads; i++)
          rmsNormInPlace(k, i * hd, hd, this.get(`${at}.k_norm.weight`), a.eps);
      }
      this.rope(q, a.heads, pos);
      this.rope(k, a.kvHeads, pos);
      this.k[l]!.push(k);
      this.v[l]!.push(v);
      const attn = new Float64Array(a.heads * hd);
      const scale = 1 / Math.sqrt(hd);
      for (let i = 0; i < a.heads; i++) {
        const kvOff = Math.floor(i / group) * hd;
        const scores = new Float64Array(pos + 1);
        let max = Number.NEGATIVE_INFINITY;
        for (let t = 0; t <= pos; t++) {
          const kt = this.k[l]![t]!;
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[i * hd + d]! * kt[kvOff + d]!;
          scores[t] = s * scale;
          max = Math.max(max, scores[t]!);
        }
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += scores[t] = Math.exp(scores[t]! - max);
        for (let t = 0; t <= pos; t++) {
          const vt = this.v[l]![t]!;
          const pt = scores[t]! / sum;
          for (let d = 0; d < hd; d++) attn[i * hd + d]! += pt * vt[kvOff + d]!;
        }
      }
      const o = linear(this.get(`${at}.o_proj.weight`), attn, H);
      for (let i = 0; i < H; i++) x[i]! += o[i]!;
      const h2 = Float64Array.from(x);
      rmsNormInPlace(h2, 0, H, this.get(`${p}.post_attention_layernorm.weight`), a.eps);
      const gate = linear(this.get(`${p}.mlp.gate_proj.weight`), h2, a.inter);
      const up = linear(this.get(`${p}.mlp.up_proj.weight`), h2, a.inter);
      for (let i = 0; i < a.inter; i++) gate[i] = (gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
      const down = linear(this.get(`${p}.mlp.down_proj.weight`), gate, H);
      for (let i = 0; i < H; i++) x[i]! += down[i]!;
    }
    rmsNormInPlace(x, 0, H, this.get("model.norm.weight"), a.eps);
    return linear(this.get(a.tied ? "model.embed_tokens.weight" : "lm_head.weight"), x, a.vocab);
  }
}

/** Logits of every position of `ids`. */
export function referenceLogits(config: HfConfig, w: Weights, ids: readonly number[]): Float64Array[] {
  const r = new HfLlamaReference(config, w);
  return ids.map((t) => r.step(t));
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

export function logSoftmaxAt(v: ArrayLike<number>, i: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < v.length; j++) max = Math.max(max, v[j]!);
  let s = 0;
  for (let j = 0; j < v.length; j++) s += Math.exp(v[j]! - max);
  return v[i]! - max - Math.log(s);
}

export interface GreedyRun {
  ids: number[];
  /** log-softmax of each chosen token */
  logprobs: number[];
  /** smallest (top-1 − top-2) logit gap over the steps, relative to that step's max |logit| */
  minRelMargin: number;
}

/** Greedy decoding: prefill `prompt`, then `steps` tokens, each the argmax of the last logits. */
export function referenceGreedy(
  config: HfConfig,
  w: Weights,
  prompt: readonly number[],
  steps: number,
): GreedyRun {
  const r = new HfLlamaReference(config, w);
  let logits: Float64Array = new Float64Array(0);
  for (const t of prompt) logits = r.step(t);
  const ids: number[] = [];
  const logprobs: number[] = [];
  let minRelMargin = Number.POSITIVE_INFINITY;
  for (let s = 0; s < steps; s++) {
    const best = argmax(logits);
    let second = Number.NEGATIVE_INFINITY;
    let maxAbs = 0;
    for (let j = 0; j < logits.length; j++) {
      if (j !== best) second = Math.max(second, logits[j]!);
      maxAbs = Math.max(maxAbs, Math.abs(logits[j]!));
    }
    minRelMargin = Math.min(minRelMargin, (logits[best]! - second) / maxAbs);
    ids.push(best);
    logprobs.push(logSoftmaxAt(logits, best));
    if (s + 1 < steps) logits = r.step(best);
  }
  return { ids, logprobs, minRelMargin };
}
