// ModelConfig: the one description of a model the runtime builds its graph from, parsed from HF
// config.json (+ generation_config.json) or, through the same parser, from GGUF metadata
// (loader/gguf-config.ts). Supported: the Llama family (Llama 2/3.x, SmolLM2, TinyLlama, stories),
// Qwen2/2.5 and Qwen3 dense models. Anything the graph would silently compute wrong (sliding windows,
// MoE, other rope types, extra biases) is refused with UnsupportedArchitecture naming the feature.
// A supported architecture with a broken or incomplete config is a ModelFileError instead.

import { ModelFileError, UnsupportedArchitecture } from "./errors.ts";
import { type FileSource, readJson } from "./loader/source.ts";

export type Architecture = "LlamaForCausalLM" | "Qwen2ForCausalLM" | "Qwen3ForCausalLM";
export type ModelType = "llama" | "qwen2" | "qwen3";

export type RopeScaling =
  | { type: "none" }
  /** positions divided by factor */
  | { type: "linear"; factor: number }
  /** Llama 3.1+: per-frequency wavelength-dependent scaling (transformers' _compute_llama3_parameters) */
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface ModelConfig {
  architecture: Architecture;
  modelType: ModelType;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  tieWordEmbeddings: boolean;
  /** q/k/v projections have biases (Qwen2); o_proj never does in the supported architectures. */
  attentionBias: boolean;
  /** per-head RMSNorm of q and k before RoPE (Qwen3) */
  qkNorm: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  /** generation stops at any of these */
  eosTokenIds: number[];
}

const ARCHS: Record<ModelType, Architecture> = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
};

/** transformers' defaults where a config may omit the field. */
const DEFAULT_MAX_POSITIONS: Record<ModelType, number> = { llama: 2048, qwen2: 32768, qwen3: 32768 };

/** Why well-known unsupported architectures are refused (the message then says it plainly). */
const KNOWN_UNSUPPORTED: Array<[RegExp, string]> = [
  [/^Mistral/, "sliding-window attention (Mistral)"],
  [/^Mixtral|Moe|MoE/, "mixture-of-experts layers"],
  [/^Gemma/, "Gemma's architecture (GeGLU, scaled embeddings, (1+w) RMSNorm)"],
  [/^Phi/, "Phi's architecture (partial rotary, dense biases)"],
];

type Json = Record<string, unknown>;

function unsupported(file: string, message: string, feature: string): UnsupportedArchitecture {
  return new UnsupportedArchitecture(message, { file, feature });
}

function intField(file: string, c: Json, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    const what = v === undefined ? "is missing" : `must be a positive integer, got ${JSON.stringify(v)}`;
    throw new ModelFileError(`${file}: ${key} ${what}`, { kind: "corrupt", file, field: key });
  }
  return v;
}

function numField(file: string, c: Json, key: string, fallback: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new ModelFileError(`${file}: ${key} must be a positive number, got ${JSON.stringify(v)}`, {
      kind: "corrupt",
      file,
      field: key,
    });
  }
  return v;
}

function tokenIds(v: unknown, key: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) {
    throw new ModelFileError(`${key} must be a token id or a list of them, got ${JSON.stringify(v)}`, {
      kind: "corrupt",
      field: key,
    });
  }
  return [...new Set(list as number[])];
}

function parseRopeScaling(file: string, c: Json): RopeScaling {
  // transformers ≥ 4.x writes rope_scaling; v5 moves everything into rope_parameters.
  const r = (c["rope_scaling"] ?? c["rope_parameters"]) as Json | null | undefined;
  if (r === undefined || r === null) return { type: "none" };
  if (typeof r !== "object")
    throw unsupported(file, `${file}: rope_scaling is not an object`, "rope_scaling");
  const type = r["rope_type"] ?? r["type"];
  if (type === undefined || type === "default") return { type: "none" };
  const num = (k: string): number => {
    const v = r[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new ModelFileError(
        `${file}: rope_scaling.${k} must be a positive number, got ${JSON.stringify(v)}`,
        {
          kind: "corrupt",
          file,
          field: `rope_scaling.${k}`,
        },
      );
    }
    return v;
  };
  if (type === "linear") return { type: "linear", factor: num("factor") };
  if (type === "llama3") {
    return {
      type: "llama3",
      factor: num("factor"),
      lowFreqFactor: num("low_freq_factor"),
      highFreqFactor: num("high_freq_factor"),
      originalMaxPositionEmbeddings: num("original_max_position_embeddings"),
    };
  }
  throw unsupported(
    file,
    `rope_scaling type "${String(type)}" is not supported (supported: none, linear, llama3)`,
    `rope_scaling:${String(type)}`,
  );
}

function resolveArchitecture(file: string, c: Json): { architecture: Architecture; modelType: ModelType } {
  const archs = c["architectures"];
  const arch = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : undefined;
  const modelType = typeof c["model_type"] === "string" ? c["model_type"] : undefined;
  if (arch === undefined && modelType === undefined) {
    throw unsupported(
      file,
      `${file} names no architecture (neither "architectures" nor "model_type")`,
      "architecture",
    );
  }
  const supported = Object.values(ARCHS).join(", ");
  const known = KNOWN_UNSUPPORTED.find(([re]) => re.test(arch ?? "") || re.test(modelType ?? ""));
  if (known) {
    throw unsupported(
      file,
      `architecture ${arch ?? modelType} is not supported: ${known[1]} (supported: ${supported})`,
      arch ?? modelType ?? "",
    );
  }
  const mt = (modelType ?? Object.keys(ARCHS).find((k) => ARCHS[k as ModelType] === arch)) as
    | ModelType
    | undefined;
  if (mt === undefined || !(mt in ARCHS) || (arch !== undefined && ARCHS[mt] !== arch)) {
    throw unsupported(
      file,
      `architecture ${arch ?? "(none)"} with model_type ${modelType ?? "(none)"} is not supported (supported: ${supported})`,
      arch ?? modelType ?? "",
    );
  }
  return { architecture: ARCHS[mt], modelType: mt };
}

/**
 * Parses HF config.json (and generation_config.json, whose bos/eos ids override) into a ModelConfig.
 * `file` names the source in messages (a GGUF file when the object came from GGUF metadata).
 */
export function parseConfig(config: unknown, generationConfig?: unknown, file = "config.json"): ModelConfig {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ModelFileError(`${file} is not a JSON object`, { kind: "corrupt", file });
  }
  const c = config as Json;
  const { architecture, modelType } = resolveArchitecture(file, c);

  const act = c["hidden_act"] ?? c["hidden_activation"] ?? "silu";
  if (act !== "silu")
    throw unsupported(file, `hidden_act "${String(act)}" is not supported (only silu)`, "hidden_act");
  for (const key of ["num_local_experts", "num_experts", "n_routed_experts"]) {
    if (typeof c[key] === "number" && (c[key] as number) > 0) {
      throw unsupported(file, `mixture-of-experts configs (${key}: ${c[key]}) are not supported`, key);
    }
  }
  if (c["use_sliding_window"] === true) {
    throw unsupported(
      file,
      "sliding-window attention (use_sliding_window: true) is not supported",
      "sliding_window",
    );
  }
  if (modelType === "llama" && typeof c["sliding_window"] === "number") {
    throw unsupported(
      file,
      `sliding-window attention (sliding_window: ${c["sliding_window"]}) is not supported`,
      "sliding_window",
    );
  }
  // Llama/Qwen3's attention_bias adds a bias to o_proj too; Qwen2 has fixed q/k/v biases instead.
  if (modelType !== "qwen2" && c["attention_bias"] === true) {
    throw unsupported(
      file,
      `attention_bias: true (biases on q/k/v/o) is not supported for ${modelType}`,
      "attention_bias",
    );
  }
  if (c["mlp_bias"] === true) throw unsupported(file, "mlp_bias: true is not supported", "mlp_bias");
  const partial = c["partial_rotary_factor"];
  if (partial !== undefined && partial !== null && partial !== 1) {
    throw unsupported(
      file,
      `partial_rotary_factor ${String(partial)} is not supported (only 1)`,
      "partial_rotary_factor",
    );
  }

  const hiddenSize = intField(file, c, "hidden_size");
  const numHeads = intField(file, c, "num_attention_heads");
  const numKvHeads = intField(file, c, "num_key_value_heads", numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ModelFileError(
      `${file}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
      {
        kind: "corrupt",
        file,
      },
    );
  }
  if (c["head_dim"] == null && hiddenSize % numHeads !== 0) {
    throw new ModelFileError(
      `${file}: hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`,
      {
        kind: "corrupt",
        file,
      },
    );
  }
  const headDim = c["head_dim"] == null ? hiddenSize / numHeads : intField(file, c, "head_dim");
  const ropeParams = c["rope_parameters"] as Json | undefined;
  const ropeTheta = numField(
    file,
    c,
    "rope_theta",
    (ropeParams?.["rope_theta"] as number | undefined) ?? 10000,
  );

  const gen = (
    typeof generationConfig === "object" && generationConfig !== null ? generationConfig : {}
  ) as Json;
  const pick = (key: string) => (gen[key] !== undefined ? gen[key] : c[key]);
  const bos = tokenIds(pick("bos_token_id"), "bos_token_id");

  return {
    architecture,
    modelType,
    hiddenSize,
    intermediateSize: intField(file, c, "intermediate_size"),
    numLayers: intField(file, c, "num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: intField(file, c, "vocab_size"),
    rmsNormEps: numField(file, c, "rms_norm_eps", 1e-6),
    ropeTheta,
    ropeScaling: parseRopeScaling(file, c),
    tieWordEmbeddings: c["tie_word_embeddings"] === true,
    attentionBias: modelType === "qwen2",
    qkNorm: modelType === "qwen3",
    maxPositionEmbeddings: intField(file, c, "max_position_embeddings", DEFAULT_MAX_POSITIONS[modelType]),
    bosTokenId: bos[0] ?? null,
    eosTokenIds: tokenIds(pick("eos_token_id"), "eos_token_id"),
  };
}

/** Reads config.json (required) and generation_config.json (when present) from a source. */
export async function loadConfig(source: FileSource): Promise<ModelConfig> {
  const file = "config.json";
  const names = await source.list();
  if (!names.includes(file)) {
    throw new ModelFileError(`required model file "${file}" is missing`, { kind: "missing_file", file });
  }
  const config = await readJson(source, file);
  const gen = names.includes("generation_config.json")
    ? await readJson(source, "generation_config.json")
    : undefined;
  return parseConfig(config, gen);
}

export interface ExpectedTensor {
  name: string;
  /** outermost-first, HF order ([out, in] for a linear layer) */
  shape: number[];
}

/** Every tensor the architecture's graph reads, with its HF name and shape. */
export function expectedTensors(c: ModelConfig): ExpectedTensor[] {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const out: ExpectedTensor[] = [{ name: "model.embed_tokens.weight", shape: [c.vocabSize, c.hiddenSize] }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [c.hiddenSize] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, c.hiddenSize] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, c.hiddenSize] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, c.hiddenSize] },
    );
    if (c.attentionBias) {
      out.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [q] },
        { name: `${p}.self_attn.k_proj.bias`, shape: [kv] },
        { name: `${p}.self_attn.v_proj.bias`, shape: [kv] },
      );
    }
    if (c.qkNorm) {
      out.push(
        { name: `${p}.self_attn.q_norm.weight`, shape: [c.headDim] },
        { name: `${p}.self_attn.k_norm.weight`, shape: [c.headDim] },
      );
    }
    out.push(
      { name: `${p}.self_attn.o_proj.weight`, shape: [c.hiddenSize, q] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [c.hiddenSize] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [c.intermediateSize, c.hiddenSize] },
      { name: `${p}.mlp.up_proj.weight`, shape: [c.intermediateSize, c.hiddenSize] },
      { name: `${p}.mlp.down_proj.weight`, shape: [c.hiddenSize, c.intermediateSize] },
    );
  }
  out.push({ name: "model.norm.weight", shape: [c.hiddenSize] });
  if (!c.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [c.vocabSize, c.hiddenSize] });
  return out;
}

/**
 * Checks a checkpoint's tensors against the architecture: ModelFileError for a missing tensor (the
 * first named, all listed in details.missing) or a shape mismatch (tensor, expected and actual
 * shape). Extra tensors (rotary inv_freq buffers, an lm_head next to tied embeddings) are ignored.
 */
export function validateTensors(
  c: ModelConfig,
  infos: Iterable<{ name: string; shape: readonly number[] }>,
): void {
  const have = new Map<string, readonly number[]>();
  for (const t of infos) have.set(t.name, t.shape);
  const missing: string[] = [];
  for (const e of expectedTensors(c)) {
    const shape = have.get(e.name);
    if (shape === undefined) {
      missing.push(e.name);
      continue;
    }
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      throw new ModelFileError(
        `tensor "${e.name}" has shape [${shape.join(", ")}] but the config needs [${e.shape.join(", ")}]`,
        { kind: "shape_mismatch", tensor: e.name, expected: e.shape, actual: [...shape] },
      );
    }
  }
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : "";
    throw new ModelFileError(`missing tensor "${missing[0]}"${more}`, {
      kind: "missing_tensor",
      tensor: missing[0]!,
      missing: missing.slice(0, 50),
    });
  }
}
