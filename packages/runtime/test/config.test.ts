import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { expectedTensors, type ModelConfig, parseConfig, validateTensors } from "../src/config.ts";
import { ModelFileError, UnsupportedArchitecture } from "../src/errors.ts";

const MODELS = new URL("../../../../shared/models/", import.meta.url);
const json = (path: string): unknown => JSON.parse(readFileSync(new URL(path, MODELS), "utf8"));

// Real configs (values as published on the hub), inline because the files are not on this machine.
const LLAMA_3_2_1B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: "silu",
  hidden_size: 2048,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
};
const LLAMA_3_2_1B_INSTRUCT_GEN = { bos_token_id: 128000, eos_token_id: [128001, 128008, 128009] };

const QWEN2_5_0_5B = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: "silu",
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_sliding_window: false,
  vocab_size: 151936,
};

const QWEN3_0_6B = {
  architectures: ["Qwen3ForCausalLM"],
  attention_bias: false,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: "silu",
  hidden_size: 1024,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: "qwen3",
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const base = (over: Record<string, unknown>) => ({ ...QWEN3_0_6B, ...over });

function expectError(
  f: () => unknown,
  cls: typeof ModelFileError | typeof UnsupportedArchitecture,
  re: RegExp,
) {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(cls);
  expect((caught as Error).message).toMatch(re);
  return caught as ModelFileError;
}

describe("parseConfig", () => {
  it("stories260K (hf/config.json + generation_config.json)", () => {
    const c = parseConfig(json("stories260K/hf/config.json"), json("stories260K/hf/generation_config.json"));
    expect(c).toEqual<ModelConfig>({
      architecture: "LlamaForCausalLM",
      modelType: "llama",
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: { type: "none" },
      tieWordEmbeddings: true,
      attentionBias: false,
      qkNorm: false,
      maxPositionEmbeddings: 512,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
  });

  it("SmolLM2-135M-Instruct (real config.json)", () => {
    const c = parseConfig(json("tokenizers/smollm2-135m-instruct/config.json"));
    expect(c).toMatchObject({
      architecture: "LlamaForCausalLM",
      hiddenSize: 576,
      intermediateSize: 1536,
      numLayers: 30,
      numHeads: 9,
      numKvHeads: 3,
      headDim: 64,
      vocabSize: 49152,
      ropeTheta: 100000,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 8192,
      eosTokenIds: [2],
    });
  });

  it("Llama-3.2-1B: llama3 rope scaling, tied, generation_config eos list overrides", () => {
    const c = parseConfig(LLAMA_3_2_1B, LLAMA_3_2_1B_INSTRUCT_GEN);
    expect(c.ropeScaling).toEqual({
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(c).toMatchObject({ ropeTheta: 500000, tieWordEmbeddings: true, headDim: 64, numKvHeads: 8 });
    expect(c.bosTokenId).toBe(128000);
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(parseConfig(LLAMA_3_2_1B).eosTokenIds).toEqual([128001]);
  });

  it("Qwen2.5-0.5B: q/k/v biases, tied, sliding window declared but off", () => {
    const c = parseConfig(QWEN2_5_0_5B);
    expect(c).toMatchObject({
      architecture: "Qwen2ForCausalLM",
      attentionBias: true,
      qkNorm: false,
      headDim: 64,
    });
    const names = expectedTensors(c).map((t) => t.name);
    expect(names).toContain("model.layers.0.self_attn.q_proj.bias");
    expect(names).not.toContain("model.layers.0.self_attn.o_proj.bias");
    expect(names).not.toContain("lm_head.weight");
  });

  it("Qwen3-0.6B: head_dim 128 with hidden 1024, q/k norm", () => {
    const c = parseConfig(QWEN3_0_6B);
    expect(c).toMatchObject({ headDim: 128, qkNorm: true, attentionBias: false, eosTokenIds: [151645] });
    const shapes = new Map(expectedTensors(c).map((t) => [t.name, t.shape]));
    expect(shapes.get("model.layers.0.self_attn.q_proj.weight")).toEqual([2048, 1024]);
    expect(shapes.get("model.layers.0.self_attn.k_proj.weight")).toEqual([1024, 1024]);
    expect(shapes.get("model.layers.0.self_attn.o_proj.weight")).toEqual([1024, 2048]);
    expect(shapes.get("model.layers.27.self_attn.q_norm.weight")).toEqual([128]);
    expect(expectedTensors(c)).toHaveLength(1 + 28 * 11 + 1);
  });

  it("defaults: numKvHeads = numHeads, headDim = hidden/heads, linear and default rope", () => {
    const { num_key_value_heads: _kv, head_dim: _hd, ...rest } = QWEN3_0_6B;
    const c = parseConfig({ ...rest, rope_scaling: { rope_type: "linear", factor: 2 } });
    expect(c).toMatchObject({ numKvHeads: 16, headDim: 64, ropeScaling: { type: "linear", factor: 2 } });
    expect(parseConfig(base({ rope_scaling: { type: "default" } })).ropeScaling).toEqual({ type: "none" });
  });
});

describe("parseConfig refuses what it cannot run", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      "Mistral",
      { architectures: ["MistralForCausalLM"], model_type: "mistral", sliding_window: 4096 },
      /Mistral.*sliding-window/,
    ],
    ["Gemma", { architectures: ["GemmaForCausalLM"], model_type: "gemma" }, /Gemma/],
    [
      "Mixtral",
      { architectures: ["MixtralForCausalLM"], model_type: "mixtral", num_local_experts: 8 },
      /mixture-of-experts/,
    ],
    ["Qwen2-MoE", { architectures: ["Qwen2MoeForCausalLM"], model_type: "qwen2_moe" }, /mixture-of-experts/],
    ["experts on a dense name", { num_experts: 4 }, /num_experts/],
    [
      "unknown model_type",
      { architectures: ["GPT2LMHeadModel"], model_type: "gpt2" },
      /GPT2LMHeadModel.*gpt2.*not supported/,
    ],
    ["no architecture", { architectures: undefined, model_type: undefined }, /names no architecture/],
    ["mismatched pair", { model_type: "llama" }, /Qwen3ForCausalLM with model_type llama/],
    ["yarn rope", { rope_scaling: { rope_type: "yarn", factor: 4 } }, /rope_scaling type "yarn"/],
    ["dynamic rope", { rope_scaling: { type: "dynamic", factor: 2 } }, /"dynamic"/],
    ["gelu", { hidden_act: "gelu_pytorch_tanh" }, /hidden_act "gelu_pytorch_tanh"/],
    ["sliding window on", { use_sliding_window: true }, /use_sliding_window/],
    ["attention_bias on qwen3", { attention_bias: true }, /attention_bias/],
    ["mlp_bias", { mlp_bias: true }, /mlp_bias/],
    ["partial rotary", { partial_rotary_factor: 0.5 }, /partial_rotary_factor 0.5/],
  ];
  for (const [name, over, re] of cases) {
    it(name, () => {
      const e = expectError(() => parseConfig(base(over)), UnsupportedArchitecture, re);
      expect(e.code).toBe("UNSUPPORTED_ARCHITECTURE");
    });
  }

  it("a supported architecture with a broken config is a ModelFileError naming the field", () => {
    const { hidden_size: _h, ...noHidden } = QWEN3_0_6B;
    const e = expectError(
      () => parseConfig(noHidden),
      ModelFileError,
      /config\.json: hidden_size is missing/,
    );
    expect(e.details).toMatchObject({ kind: "corrupt", field: "hidden_size" });
    expectError(() => parseConfig(base({ num_key_value_heads: 3 })), ModelFileError, /not a multiple/);
    expectError(
      () => parseConfig(base({ vocab_size: -1 })),
      ModelFileError,
      /vocab_size must be a positive integer/,
    );
    expectError(
      () => parseConfig(base({ rope_scaling: { rope_type: "llama3", factor: 8 } })),
      ModelFileError,
      /rope_scaling\.low_freq_factor/,
    );
    expectError(() => parseConfig([1, 2]), ModelFileError, /not a JSON object/);
    expectError(() => parseConfig(base({ eos_token_id: "x" })), ModelFileError, /eos_token_id/);
  });
});

describe("expectedTensors / validateTensors", () => {
  const stories = parseConfig(json("stories260K/hf/config.json"));

  it("stories260K: 47 tensors, lm_head only when untied", () => {
    const t = expectedTensors(stories);
    expect(t).toHaveLength(1 + 5 * 9 + 1);
    expect(t[0]).toEqual({ name: "model.embed_tokens.weight", shape: [512, 64] });
    expect(t.find((x) => x.name === "model.layers.4.mlp.down_proj.weight")?.shape).toEqual([64, 172]);
    expect(expectedTensors({ ...stories, tieWordEmbeddings: false }).at(-1)).toEqual({
      name: "lm_head.weight",
      shape: [512, 64],
    });
  });

  it("accepts the expected set plus extras; names missing tensors and shape mismatches", () => {
    const infos = expectedTensors(stories);
    validateTensors(stories, [...infos, { name: "model.rotary_emb.inv_freq", shape: [4] }]);
    const missing = expectError(
      () =>
        validateTensors(
          stories,
          infos.filter((t) => !t.name.includes("layers.3.mlp")),
        ),
      ModelFileError,
      /missing tensor "model\.layers\.3\.mlp\.gate_proj\.weight" \(and 2 more\)/,
    );
    expect(missing.details?.["kind"]).toBe("missing_tensor");
    const bad = infos.map((t) =>
      t.name === "model.layers.2.self_attn.k_proj.weight" ? { ...t, shape: [64, 64] } : t,
    );
    const mismatch = expectError(
      () => validateTensors(stories, bad),
      ModelFileError,
      /"model\.layers\.2\.self_attn\.k_proj\.weight" has shape \[64, 64\] but the config needs \[32, 64\]/,
    );
    expect(mismatch.details).toMatchObject({ kind: "shape_mismatch", expected: [32, 64], actual: [64, 64] });
  });
});
