// Seeded random-init checkpoints for architecture tests: real HF folders (config.json +
// model.safetensors in F32, F16 or BF16) and tiny llama GGUF files (Q8_0 / Q4_0), with every tensor an
// architecture needs. The values come from a counter-based hash, so scripts/make_parity_fixtures.py
// rebuilds the same checkpoints bit for bit with numpy (uint32 arithmetic), and the CPU reference
// (reference/hf-llama.ts) reads the values from here, never through the runtime's loader.
//
// THE FORMULA (make_parity_fixtures.py implements exactly this):
//   fmix32(h)  = murmur3's finalizer: h ^= h >>> 16; h = h·0x85EBCA6B; h ^= h >>> 13;
//                h = h·0xC2B2AE35; h ^= h >>> 16            (all mod 2^32)
//   hash(seed, t, i) = fmix32((seed ^ (t + 1)·0x9E3779B1 ^ i·0x85EBCA6B) mod 2^32)
//   unit(seed, t, i) = ((hash >>> 8) − 2^23) · 2^−23         ∈ [−1, 1), 24 bits: exact in f32
// t is the tensor's index in tensorPlan() order, i the element's row-major index. A tensor's f32 value:
//   embed_tokens:                 unit · 2^−4
//   lm_head (untied):             unit · 2^−1
//   a linear weight (N, K):       unit · 2^−e with e the smallest integer such that 4^e ≥ K
//                                 (≈ 1/√K: a unit-RMS input gives outputs of RMS ≈ 0.3–0.6),
//                                 except q_proj and k_proj: unit · 2^(2−e)
// Why: random models tend to repeat one token under greedy decoding. With a large embedding a tied
// head copies the input token (its logit is |e_t|²); with q, k at 2^−e attention scores are ~0.3 and
// every position attends almost uniformly. These scales give varied greedy sequences.
//   q/k/v bias:                   unit · 2^−2
//   any RMSNorm weight:           f32(1 + unit · 2^−3)  (rounded to nearest even, once, from f64)
// F16 / BF16 checkpoints store those f32 values rounded to nearest even (numpy astype(float16); BF16
// by the bit rule (b + 0x7FFF + ((b >> 16) & 1)) >> 16 on the f32 bits).

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type GgufTensorSpec, type GgufValue, writeGguf } from "./fixtures/gguf-writer.ts";
import { writeSafetensors } from "./fixtures/safetensors-writer.ts";

export type HfConfig = Record<string, unknown>;
export type StoreDtype = "F32" | "F16" | "BF16";

export function fmix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function hashU32(seed: number, t: number, i: number): number {
  return fmix32((seed ^ Math.imul(t + 1, 0x9e3779b1) ^ Math.imul(i, 0x85ebca6b)) >>> 0);
}

/** unit(seed, t, i) ∈ [−1, 1) with 24 significant bits. */
export function unit(seed: number, t: number, i: number): number {
  return ((hashU32(seed, t, i) >>> 8) - 2 ** 23) * 2 ** -23;
}

export type TensorKind = "embed" | "lm_head" | "linear" | "bias" | "norm";
export interface PlannedTensor {
  name: string;
  /** outermost-first (HF): a linear layer is [N (out), K (in)] */
  shape: number[];
  kind: TensorKind;
}

const num = (c: HfConfig, key: string, fallback?: number): number => {
  const v = c[key] ?? fallback;
  if (typeof v !== "number") throw new Error(`config.${key} is missing`);
  return v;
};

/** Every tensor of a Llama / Qwen2 / Qwen3 checkpoint, in the order that numbers them (t). */
export function tensorPlan(c: HfConfig): PlannedTensor[] {
  const h = num(c, "hidden_size");
  const inter = num(c, "intermediate_size");
  const heads = num(c, "num_attention_heads");
  const kvHeads = num(c, "num_key_value_heads", heads);
  const hd = num(c, "head_dim", h / heads);
  const vocab = num(c, "vocab_size");
  const out: PlannedTensor[] = [{ name: "model.embed_tokens.weight", shape: [vocab, h], kind: "embed" }];
  for (let l = 0; l < num(c, "num_hidden_layers"); l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [h], kind: "norm" },
      { name: `${a}.q_proj.weight`, shape: [heads * hd, h], kind: "linear" },
      { name: `${a}.k_proj.weight`, shape: [kvHeads * hd, h], kind: "linear" },
      { name: `${a}.v_proj.weight`, shape: [kvHeads * hd, h], kind: "linear" },
    );
    if (c["model_type"] === "qwen2") {
      out.push(
        { name: `${a}.q_proj.bias`, shape: [heads * hd], kind: "bias" },
        { name: `${a}.k_proj.bias`, shape: [kvHeads * hd], kind: "bias" },
        { name: `${a}.v_proj.bias`, shape: [kvHeads * hd], kind: "bias" },
      );
    }
    if (c["model_type"] === "qwen3") {
      out.push(
        { name: `${a}.q_norm.weight`, shape: [hd], kind: "norm" },
        { name: `${a}.k_norm.weight`, shape: [hd], kind: "norm" },
      );
    }
    out.push(
      { name: `${a}.o_proj.weight`, shape: [h, heads * hd], kind: "linear" },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], kind: "norm" },
      { name: `${p}.mlp.gate_proj.weight`, shape: [inter, h], kind: "linear" },
      { name: `${p}.mlp.up_proj.weight`, shape: [inter, h], kind: "linear" },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, inter], kind: "linear" },
    );
  }
  out.push({ name: "model.norm.weight", shape: [h], kind: "norm" });
  if (c["tie_word_embeddings"] !== true) {
    out.push({ name: "lm_head.weight", shape: [vocab, h], kind: "lm_head" });
  }
  return out;
}

/** log2 of the scale of a non-norm tensor (the formula above). */
export function log2Scale(t: PlannedTensor): number {
  if (t.kind === "embed") return -4;
  if (t.kind === "lm_head") return -1;
  if (t.kind === "bias") return -2;
  if (t.kind === "norm") return -3;
  const k = t.shape[1]!;
  let e = 0;
  while (4 ** e < k) e++;
  return /\.[qk]_proj\./.test(t.name) ? 2 - e : -e;
}

/** The f32 values of tensor number t of the plan. */
export function tensorValues(seed: number, t: number, p: PlannedTensor): Float32Array {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const s = 2 ** log2Scale(p);
  if (p.kind === "norm") {
    for (let i = 0; i < n; i++) out[i] = 1 + unit(seed, t, i) * s;
  } else {
    for (let i = 0; i < n; i++) out[i] = unit(seed, t, i) * s;
  }
  return out;
}

const roundHalfEven = (v: number): number => {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
};

/** f16 bits of a number, rounded to nearest even (overflow → ±Inf), independent of the runtime's. */
export function f16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal (0x400 = min normal)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  let mant = roundHalfEven((a / 2 ** e - 1) * 1024);
  let exp = e + 15;
  if (mant === 1024) {
    mant = 0;
    exp++;
  }
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | mant;
}

export function f16Value(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Rounds f32 values to the stored dtype: returns the stored bytes and the exact stored values. */
export function store(values: Float32Array, dtype: StoreDtype): { bytes: Uint8Array; values: Float32Array } {
  if (dtype === "F32") return { bytes: new Uint8Array(values.buffer), values };
  const halves = new Uint16Array(values.length);
  const stored = new Float32Array(values.length);
  if (dtype === "F16") {
    for (let i = 0; i < values.length; i++) {
      halves[i] = f16Bits(values[i]!);
      stored[i] = f16Value(halves[i]!);
    }
  } else {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const out = new Uint32Array(stored.buffer);
    for (let i = 0; i < values.length; i++) {
      const b = bits[i]!;
      halves[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      out[i] = halves[i]! << 16;
    }
  }
  return { bytes: new Uint8Array(halves.buffer), values: stored };
}

export interface RandomModel {
  config: HfConfig;
  dtype: StoreDtype;
  /** HF name → the exact values stored in the checkpoint (widened to f32) */
  weights: Map<string, Float32Array>;
  plan: PlannedTensor[];
  bytes: Map<string, Uint8Array>;
}

export function randomModel(config: HfConfig, seed: number, dtype: StoreDtype = "F32"): RandomModel {
  const plan = tensorPlan(config);
  const weights = new Map<string, Float32Array>();
  const bytes = new Map<string, Uint8Array>();
  plan.forEach((p, t) => {
    const s = store(tensorValues(seed, t, p), dtype);
    weights.set(p.name, s.values);
    bytes.set(p.name, s.bytes);
  });
  return { config, dtype, weights, plan, bytes };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `wisp-${prefix}-`));
}

/** Writes config.json + model.safetensors (tensors in plan order) into `dir` (created if needed). */
export function writeHfModel(m: RandomModel, dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(m.config, null, 2)}\n`);
  const entries = m.plan.map((p) => ({
    name: p.name,
    dtype: m.dtype,
    shape: p.shape,
    data: m.bytes.get(p.name)!,
  }));
  writeFileSync(join(dir, "model.safetensors"), writeSafetensors(entries));
  return dir;
}

// ---------------------------------------------------------------------------------------------------
// GGUF (llama architecture): every matrix is made of Q4_0-representable blocks, w = (q − 8)·d with an
// f16 d and q ∈ [0, 15], and every block holds one q = 0 (w = −8d, the block's unique largest
// magnitude). Such a block is stored exactly as Q4_0, as Q8_0 (int8 q − 8, same d) and as INT4 (whose
// quantizer, d = m / −8 with m the largest-magnitude element, recovers d and q exactly), so a Q8_0
// checkpoint quantized to INT4 at load must still match the f32 reference. Not mirrored in Python.

export type GgufMatrixType = "Q8_0" | "Q4_0";

/** The values of a Q4_0-representable matrix (N, K), K a multiple of 32: q, d per block and w. */
function blockMatrix(
  seed: number,
  t: number,
  p: PlannedTensor,
): { q: Uint8Array; d: number[]; w: Float32Array } {
  const [n, k] = p.shape as [number, number];
  const blocks = (n * k) / 32;
  const q = new Uint8Array(n * k);
  const d: number[] = [];
  const w = new Float32Array(n * k);
  const s = 2 ** log2Scale(p);
  for (let b = 0; b < blocks; b++) {
    // d ∈ [0.75, 1.25)·s/8 as f16, so w spans about [−s, s] like the f32 checkpoints
    const db = f16Value(f16Bits((s / 8) * (1 + unit(seed, t + 1000, b) / 4)));
    d.push(db);
    const zero = hashU32(seed, t + 2000, b) % 32;
    for (let j = 0; j < 32; j++) {
      const i = b * 32 + j;
      q[i] = j === zero ? 0 : hashU32(seed, t, i) >>> 28;
      w[i] = (q[i]! - 8) * db;
    }
  }
  return { q, d, w };
}

function encodeBlocks(q: Uint8Array, d: number[], type: GgufMatrixType): Uint8Array {
  const bs = type === "Q4_0" ? 18 : 34;
  const out = new Uint8Array(d.length * bs);
  d.forEach((db, b) => {
    const o = b * bs;
    const bits = f16Bits(db);
    out[o] = bits & 0xff;
    out[o + 1] = bits >> 8;
    for (let j = 0; j < 32; j++) {
      const v = q[b * 32 + j]!;
      if (type === "Q8_0") out[o + 2 + j] = (v - 8) & 0xff;
      else if (j < 16) out[o + 2 + j] = v;
      else out[o + 2 + j - 16]! |= v << 4;
    }
  });
  return out;
}

/** llama.cpp's q/k row permutation (convert_hf_to_gguf.py): GGUF row h·hd + 2j + i = HF row h·hd + i·hd/2 + j. */
function permuteRows(data: Uint8Array, rows: number, nHead: number): Uint8Array {
  const rb = data.length / rows;
  const hd = rows / nHead;
  const out = new Uint8Array(data.length);
  for (let r = 0; r < rows; r++) {
    const h = Math.floor(r / hd);
    const rem = r % hd;
    const src = h * hd + (rem % 2) * (hd / 2) + Math.floor(rem / 2);
    out.set(data.subarray(src * rb, (src + 1) * rb), r * rb);
  }
  return out;
}

const GGUF_LAYER: Record<string, string> = {
  input_layernorm: "attn_norm",
  "self_attn.q_proj": "attn_q",
  "self_attn.k_proj": "attn_k",
  "self_attn.v_proj": "attn_v",
  "self_attn.o_proj": "attn_output",
  post_attention_layernorm: "ffn_norm",
  "mlp.gate_proj": "ffn_gate",
  "mlp.up_proj": "ffn_up",
  "mlp.down_proj": "ffn_down",
};

function ggufName(hf: string): string {
  if (hf === "model.embed_tokens.weight") return "token_embd.weight";
  if (hf === "model.norm.weight") return "output_norm.weight";
  if (hf === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(hf);
  if (!m || !GGUF_LAYER[m[2]!]) throw new Error(`no GGUF name for ${hf}`);
  return `blk.${m[1]}.${GGUF_LAYER[m[2]!]}.weight`;
}

export interface RandomGguf {
  /** the HF config.json equivalent, for the reference */
  config: HfConfig;
  weights: Map<string, Float32Array>;
  file: Uint8Array;
}

/**
 * A llama GGUF (no tokenizer model, just 'tokenizer.ggml.tokens' for the vocabulary size). `typeOf`
 * picks each matrix's storage by HF name; norms are F32.
 */
export function randomLlamaGguf(
  config: HfConfig,
  seed: number,
  typeOf: (hfName: string) => GgufMatrixType,
): RandomGguf {
  if (config["model_type"] !== "llama" || config["rope_scaling"]) {
    throw new Error("randomLlamaGguf writes plain-RoPE llama models only");
  }
  const plan = tensorPlan(config);
  const heads = num(config, "num_attention_heads");
  const kvHeads = num(config, "num_key_value_heads", heads);
  const h = num(config, "hidden_size");
  const weights = new Map<string, Float32Array>();
  const tensors: GgufTensorSpec[] = [];
  plan.forEach((p, t) => {
    const dims = [...p.shape].reverse();
    if (p.kind === "norm") {
      const w = tensorValues(seed, t, p);
      weights.set(p.name, w);
      tensors.push({ name: ggufName(p.name), dims, type: 0, data: new Uint8Array(w.buffer) });
      return;
    }
    const m = blockMatrix(seed, t, p);
    weights.set(p.name, m.w);
    const type = typeOf(p.name);
    let data = encodeBlocks(m.q, m.d, type);
    if (/\.self_attn\.q_proj\./.test(p.name)) data = permuteRows(data, p.shape[0]!, heads);
    if (/\.self_attn\.k_proj\./.test(p.name)) data = permuteRows(data, p.shape[0]!, kvHeads);
    tensors.push({ name: ggufName(p.name), dims, type: type === "Q4_0" ? 2 : 8, data });
  });
  const a = "llama";
  const meta: Record<string, GgufValue> = {
    "general.architecture": { str: a },
    [`${a}.context_length`]: { u32: num(config, "max_position_embeddings") },
    [`${a}.embedding_length`]: { u32: h },
    [`${a}.block_count`]: { u32: num(config, "num_hidden_layers") },
    [`${a}.feed_forward_length`]: { u32: num(config, "intermediate_size") },
    [`${a}.rope.dimension_count`]: { u32: h / heads },
    [`${a}.attention.head_count`]: { u32: heads },
    [`${a}.attention.head_count_kv`]: { u32: kvHeads },
    [`${a}.attention.layer_norm_rms_epsilon`]: { f32: num(config, "rms_norm_eps") },
    [`${a}.rope.freq_base`]: { f32: num(config, "rope_theta") },
    "tokenizer.ggml.tokens": {
      strs: Array.from({ length: num(config, "vocab_size") }, (_, i) => `t${i}`),
    },
    "tokenizer.ggml.bos_token_id": { u32: 1 },
    "tokenizer.ggml.eos_token_id": { u32: 2 },
  };
  return { config, weights, file: writeGguf(meta, tensors) };
}
