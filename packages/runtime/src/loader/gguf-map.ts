// GGUF → HF: tensor names, the q/k row order, and llama.cpp metadata → an HF-style config.json object
// (then parsed by the one config parser, so a GGUF and its HF checkpoint give the same ModelConfig).

import { UnsupportedArchitecture } from "../errors.ts";

const GLOBAL_NAMES: Record<string, string> = {
  "token_embd.weight": "model.embed_tokens.weight",
  "output_norm.weight": "model.norm.weight",
  "output.weight": "lm_head.weight",
};

const LAYER_NAMES: Record<string, string> = {
  attn_norm: "input_layernorm",
  attn_q: "self_attn.q_proj",
  attn_k: "self_attn.k_proj",
  attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj",
  attn_q_norm: "self_attn.q_norm",
  attn_k_norm: "self_attn.k_norm",
  ffn_norm: "post_attention_layernorm",
  ffn_gate: "mlp.gate_proj",
  ffn_up: "mlp.up_proj",
  ffn_down: "mlp.down_proj",
};

/** "blk.3.attn_q.weight" → "model.layers.3.self_attn.q_proj.weight"; unknown names are kept as is. */
export function hfTensorName(ggufName: string): string {
  const g = GLOBAL_NAMES[ggufName];
  if (g) return g;
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  const part = m ? LAYER_NAMES[m[2]!] : undefined;
  return m && part ? `model.layers.${m[1]}.${part}.${m[3]}` : ggufName;
}

/**
 * Undoes llama.cpp's q/k permutation. For the "llama" architecture, convert_hf_to_gguf.py (and
 * convert-llama2c) store q_proj/k_proj rows in the interleaved RoPE layout that llama.cpp's
 * LLAMA_ROPE_TYPE_NORM expects (rotated pairs adjacent: (x0, x1), (x2, x3), ...), via
 *   permute(w, n_head) = w.reshape(n_head, 2, head_dim/2, K).swapaxes(1, 2).reshape(N, K)
 * whereas HF's rotate-half RoPE pairs element j with j + head_dim/2. So GGUF row h·hd + 2j + i holds
 * HF row h·hd + i·hd/2 + j (i ∈ {0, 1}, j < hd/2); this moves every row back. Rows are moved as whole
 * byte runs, so it works for F32/F16 rows and for quantized rows (Q4_0 blocks never cross rows).
 * n_head is the head count for q and the KV head count for k. Qwen2/Qwen3 GGUFs use NEOX
 * (rotate-half) RoPE in llama.cpp and are stored unpermuted.
 */
export function unpermuteRows(data: Uint8Array, nRows: number, nHead: number): Uint8Array {
  if (nRows % nHead !== 0 || (nRows / nHead) % 2 !== 0 || data.length % nRows !== 0) {
    throw new RangeError(`cannot un-permute ${nRows} rows (${data.length} bytes) into ${nHead} heads`);
  }
  const rowBytes = data.length / nRows;
  const hd = nRows / nHead;
  const half = hd / 2;
  const out = new Uint8Array(data.length);
  for (let h = 0; h < nHead; h++) {
    for (let j = 0; j < half; j++) {
      for (let i = 0; i < 2; i++) {
        const src = (h * hd + 2 * j + i) * rowBytes;
        const dst = (h * hd + i * half + j) * rowBytes;
        out.set(data.subarray(src, src + rowBytes), dst);
      }
    }
  }
  return out;
}

/** The GGUF architectures Wisp maps, and the HF class each one is. */
export const GGUF_ARCHS = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
} as const;
export type GgufArch = keyof typeof GGUF_ARCHS;

/**
 * The shortest decimal that rounds to the same f32: GGUF stores floats as f32, so config.json's
 * 1e-5 arrives as 9.99999974e-6; both are the same f32, and this gives back 1e-5.
 */
export function f32Decimal(x: number): number {
  const f = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const v = Number(f.toPrecision(p));
    if (Math.fround(v) === f) return v;
  }
  return f;
}

const asNumber = (v: unknown): number | undefined =>
  typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;

/** llama.cpp stores Llama 3.1+ rope scaling as per-frequency factors (rope_freqs.weight); Meta's values. */
const LLAMA3_DEFAULTS = { lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

/**
 * Recovers Llama 3 rope_scaling from rope_freqs.weight by recomputing convert_hf_to_gguf.py's factors
 * for factor = the largest stored factor and Meta's low/high/original values, and comparing.
 */
export function llama3FromFreqFactors(
  factors: Float32Array,
  headDim: number,
  theta: number,
): Record<string, unknown> | null {
  let factor = 1;
  for (const f of factors) factor = Math.max(factor, f);
  if (factor === 1 && factors.every((f) => f === 1)) return null;
  const { lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: orig } = LLAMA3_DEFAULTS;
  for (let i = 0; i < factors.length; i++) {
    const freq = Math.fround(1 / theta ** ((2 * i) / headDim));
    const wavelen = (2 * Math.PI) / freq;
    let want: number;
    if (wavelen < orig / high) want = 1;
    else if (wavelen > orig / low) want = factor;
    else {
      const smooth = (orig / wavelen - low) / (high - low);
      want = 1 / ((1 - smooth) / factor + smooth);
    }
    if (Math.abs(factors[i]! - want) > 1e-4 * want) {
      throw new UnsupportedArchitecture(
        `GGUF rope_freqs.weight does not match Llama 3 rope scaling (factor ${factor}, low ${low}, high ${high}, original ${orig}) at frequency ${i}: ${factors[i]} vs ${want}`,
        { feature: "rope_freqs" },
      );
    }
  }
  return {
    rope_type: "llama3",
    factor: f32Decimal(factor),
    low_freq_factor: low,
    high_freq_factor: high,
    original_max_position_embeddings: orig,
  };
}

/**
 * llama.cpp metadata → an HF config.json object for parseConfig. `hasOutput`: whether output.weight
 * exists (absent = tied embeddings); `ropeScaling`: from rope_freqs.weight when the file has one.
 */
/** Raises UnsupportedArchitecture unless general.architecture is one Wisp maps. */
export function checkGgufArch(meta: Record<string, unknown>): GgufArch {
  const arch = meta["general.architecture"];
  if (typeof arch !== "string" || !(arch in GGUF_ARCHS)) {
    throw new UnsupportedArchitecture(
      `GGUF architecture "${String(arch)}" is not supported (supported: ${Object.keys(GGUF_ARCHS).join(", ")})`,
      { feature: String(arch) },
    );
  }
  return arch as GgufArch;
}

export function ggufToHfConfig(
  meta: Record<string, unknown>,
  hasOutput: boolean,
  ropeScaling?: Record<string, unknown> | null,
): Record<string, unknown> {
  const a = checkGgufArch(meta);
  const get = (key: string) => meta[`${a}.${key}`];
  const num = (key: string) => asNumber(get(key));
  const heads = get("attention.head_count");
  if (Array.isArray(heads) || Array.isArray(get("attention.head_count_kv"))) {
    throw new UnsupportedArchitecture("GGUF with per-layer head counts is not supported", {
      feature: "head_count",
    });
  }
  const nHeads = asNumber(heads);
  const hidden = num("embedding_length");
  const keyLen = num("attention.key_length");
  const valueLen = num("attention.value_length");
  if (keyLen !== undefined && valueLen !== undefined && keyLen !== valueLen) {
    throw new UnsupportedArchitecture(
      `GGUF key_length ${keyLen} ≠ value_length ${valueLen} is not supported`,
      {
        feature: "value_length",
      },
    );
  }
  const headDim = keyLen ?? (hidden !== undefined && nHeads ? hidden / nHeads : undefined);
  const ropeDim = num("rope.dimension_count");
  if (ropeDim !== undefined && headDim !== undefined && ropeDim !== headDim) {
    throw new UnsupportedArchitecture(
      `partial rotary embeddings (rope.dimension_count ${ropeDim}, head_dim ${headDim})`,
      {
        feature: "partial_rotary",
      },
    );
  }
  const tokens = meta["tokenizer.ggml.tokens"];
  const scalingType = get("rope.scaling.type");
  let rope: Record<string, unknown> | null = ropeScaling ?? null;
  if (scalingType !== undefined && scalingType !== "none") {
    rope = { rope_type: scalingType, factor: f32Decimal(num("rope.scaling.factor") ?? Number.NaN) };
  }
  const freqBase = num("rope.freq_base");
  const eps = num("attention.layer_norm_rms_epsilon");
  // llama.cpp stops at eos and at end-of-turn/message tokens (Llama 3 instruct: <|eot_id|>, <|eom_id|>).
  const eos = ["eos", "eot", "eom"]
    .map((k) => asNumber(meta[`tokenizer.ggml.${k}_token_id`]))
    .filter((x): x is number => x !== undefined);
  return {
    architectures: [GGUF_ARCHS[a]],
    model_type: a,
    hidden_act: "silu",
    hidden_size: hidden,
    intermediate_size: num("feed_forward_length"),
    num_hidden_layers: num("block_count"),
    num_attention_heads: nHeads,
    num_key_value_heads: num("attention.head_count_kv") ?? nHeads,
    head_dim: headDim,
    vocab_size: Array.isArray(tokens) ? tokens.length : num("vocab_size"),
    rms_norm_eps: eps === undefined ? undefined : f32Decimal(eps),
    rope_theta: freqBase === undefined ? 10000 : f32Decimal(freqBase),
    rope_scaling: rope,
    max_position_embeddings: num("context_length"),
    tie_word_embeddings: !hasOutput,
    bos_token_id: asNumber(meta["tokenizer.ggml.bos_token_id"]) ?? null,
    eos_token_id: eos,
  };
}
