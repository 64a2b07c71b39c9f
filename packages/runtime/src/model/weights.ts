// Checkpoint tensors → GPU buffers, in the layout the Llama graph wants: q/k/v fused into one QKV
// matmul (N = (nHeads + 2·nKvHeads)·headDim, output row [q | k | v]), gate/up fused (N = 2·I, output
// row [gate | up]), norms as f32. Weights are widened to f32 on the CPU (exact), checked for NaN,
// then quantized to INT4 on the GPU (the CPU spec's scale search, kernels/src/format/int4.ts) unless
// quant is "f32". The search weighs each input column's error by the square of the RMSNorm weight that
// scales that input (q/k/v: input norm; gate/up: post-attention norm; an INT4 lm_head and tied
// embedding: final norm); o and down see no norm and search unweighted. GGUF Q4_0 is repacked losslessly instead
// of re-quantized. An INT4 model's lm_head (and its embedding when tied: the same table) is INT8
// instead (kernels/src/format/int8.ts; headStorage below has the exceptions), quantized on the GPU or
// repacked losslessly from GGUF Q8_0: 4 bits cost stories260K +14.6% perplexity, mostly there.
import { dequantizeInt4, repackQ4_0, repackQ8_0 } from "@wisp/kernels";
import type { ModelConfig } from "../config.ts";
import { assertFinite, type TensorDtype, type TensorSet, toF32 } from "../loader/tensor.ts";
import {
  allocateLinear,
  type Linear,
  type LinearStorage,
  linearFromF32,
  linearFromInt4,
  linearFromInt8,
  linearLayout,
  type Quant,
  storageBuffer,
  uploadF32,
} from "./linear.ts";
import { headBytes, LayerStreamer, layerBuffers, layerBytes, readLayer } from "./streaming.ts";

export interface LayerWeights {
  /** (hidden) f32 */
  inputNorm: GPUBuffer;
  postNorm: GPUBuffer;
  /** ((nHeads + 2·nKvHeads)·headDim, hidden), bias for Qwen2 */
  qkv: Linear;
  /** (hidden, nHeads·headDim) */
  o: Linear;
  /** (2·I, hidden) */
  gateUp: Linear;
  /** (hidden, I) */
  down: Linear;
  /** (headDim) f32, Qwen3 */
  qNorm?: GPUBuffer;
  kNorm?: GPUBuffer;
}

export interface ModelWeights {
  quant: Quant;
  /** The lm_head storage asked for (the one stored: lmHead.quant, see headStorage). */
  headQuant: HeadQuant;
  /** The token embedding (vocab, hidden) as a Linear: its parts are the gather tables; tied lm_head reuses it. */
  embed: Linear;
  layers: LayerWeights[];
  /** (hidden) f32 */
  finalNorm: GPUBuffer;
  lmHead: Linear;
  /** Present when some layers stream: `layers[i]` for i ≥ streamer.resident is the slot layer i runs from. */
  streamer?: LayerStreamer;
}

/**
 * Decides residency once the first layer is loaded: given that layer's GPU bytes and the bytes of the
 * embedding + lm_head (an untied lm_head counted as the embedding's size), how many layers stay
 * resident and how many slots the rest stream through.
 */
export type ResidencyPlan = (perLayer: number, headBytes: number) => { resident: number; slots: number };

/** "download": bytes of tensors read from the source (the network for a URL); "quantize": layers done. */
export interface LoadProgress {
  phase: "download" | "quantize";
  loaded: number;
  total: number;
}

/**
 * The lm_head's storage in an INT4 model: INT8 (default; 8.5 bits a weight) or INT4 as every other
 * matrix (4.5 bits: half the lm_head's bytes per token, at a perplexity cost — ARCHITECTURE.md).
 */
export type HeadQuant = "int8" | "int4";

/**
 * How the lm_head (and a tied embedding, the same table) is stored: f32 in an f32 model; in an INT4
 * model `headQuant`, except INT4 when the checkpoint already holds it in 4 bits (GGUF Q4_0: repacked
 * losslessly — 8 bits would add bytes and rounding, not information) or when a tied table in INT8
 * would not fit one storage binding (the embedding gather reads one) while INT4 would.
 */
export function headStorage(
  device: GPUDevice,
  c: ModelConfig,
  quant: Quant,
  headQuant: HeadQuant = "int8",
  sourceDtype?: TensorDtype,
): LinearStorage {
  if (quant === "f32") return "f32";
  if (headQuant === "int4" || sourceDtype === "Q4_0") return "int4";
  if (c.tieWordEmbeddings && linearLayout(device, c.vocabSize, c.hiddenSize, "int8", false).parts > 1) {
    return "int4";
  }
  return "int8";
}

/** The embedding and lm_head buffers without contents: tied, one Linear in the head's storage. */
export function allocateHead(
  device: GPUDevice,
  c: ModelConfig,
  quant: Quant,
  head: LinearStorage,
): { embed: Linear; lmHead: Linear } {
  const tied = c.tieWordEmbeddings;
  const embed = allocateLinear(
    device,
    "model.embed_tokens.weight",
    c.vocabSize,
    c.hiddenSize,
    tied ? head : quant,
    false,
  );
  const lmHead = tied
    ? embed
    : allocateLinear(device, "lm_head.weight", c.vocabSize, c.hiddenSize, head, false);
  return { embed, lmHead };
}

/** One transformer layer's buffers without contents (the layout loadWeights produces). */
export function allocateLayer(device: GPUDevice, c: ModelConfig, quant: Quant, i: number): LayerWeights {
  const p = `model.layers.${i}`;
  const h = c.hiddenSize;
  const qkvRows = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
  const l: LayerWeights = {
    inputNorm: storageBuffer(device, `${p}.input_layernorm.weight`, h * 4),
    postNorm: storageBuffer(device, `${p}.post_attention_layernorm.weight`, h * 4),
    qkv: allocateLinear(device, `${p}.self_attn.qkv`, qkvRows, h, quant, c.attentionBias),
    o: allocateLinear(device, `${p}.self_attn.o_proj.weight`, h, c.numHeads * c.headDim, quant, false),
    gateUp: allocateLinear(device, `${p}.mlp.gate_up`, 2 * c.intermediateSize, h, quant, false),
    down: allocateLinear(device, `${p}.mlp.down_proj.weight`, h, c.intermediateSize, quant, false),
  };
  if (c.qkNorm) {
    l.qNorm = storageBuffer(device, `${p}.self_attn.q_norm.weight`, c.headDim * 4);
    l.kNorm = storageBuffer(device, `${p}.self_attn.k_norm.weight`, c.headDim * 4);
  }
  return l;
}

type ReadTensor = TensorSet["readTensor"];

async function readF32(read: ReadTensor, name: string): Promise<Float32Array> {
  const t = await read(name);
  if (t.dtype === "Q4_0") {
    // Exact: (q - 8)·d with an f16 d is representable in f32. Re-quantizing it (fused q/k/v, gate/up)
    // gives back the same blocks, since every llama.cpp Q4_0 block holds its -8·d element.
    const [n, k] = t.shape.length === 2 ? (t.shape as [number, number]) : [1, t.shape[0]!];
    return Float32Array.from(dequantizeInt4(repackQ4_0(t.data, n, k)));
  }
  const data = toF32(t.dtype === "Q8_0" ? "F32" : t.dtype, t.data);
  assertFinite(name, "F32", data);
  return data;
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export async function loadWeights(
  device: GPUDevice,
  config: ModelConfig,
  tensors: TensorSet,
  quant: Quant,
  onProgress?: (p: LoadProgress) => void,
  residency?: ResidencyPlan,
  headQuant: HeadQuant = "int8",
): Promise<ModelWeights> {
  const { hiddenSize: h, intermediateSize: inter, numHeads, numKvHeads, headDim, vocabSize } = config;
  const total = config.numLayers + 2;
  let loaded = 0;
  const step = () => onProgress?.({ phase: "quantize", loaded: ++loaded, total });
  const totalBytes = [...tensors.tensors.values()].reduce((s, t) => s + t.byteLength, 0);
  let readBytes = 0;
  const read: ReadTensor = async (name, options) => {
    const t = await tensors.readTensor(name, options);
    readBytes += t.data.byteLength;
    onProgress?.({ phase: "download", loaded: readBytes, total: totalBytes });
    return t;
  };

  /**
   * One matrix (n, k): GGUF Q4_0 is repacked when the storage is INT4, GGUF Q8_0 when it is INT8,
   * anything else widened and quantized (or kept f32).
   */
  const matrix = async (
    name: string,
    n: number,
    k: number,
    importance?: Float32Array,
    storage: LinearStorage = quant,
  ): Promise<Linear> => {
    const info = tensors.tensors.get(name);
    if (info?.dtype === "Q4_0" && storage === "int4") {
      const t = await read(name);
      return linearFromInt4(device, name, repackQ4_0(t.data, n, k));
    }
    if (info?.dtype === "Q8_0" && storage === "int8") {
      const t = await read(name, { keepBlocks: true });
      return linearFromInt8(device, name, repackQ8_0(t.data, n, k));
    }
    return linearFromF32(device, name, await readF32(read, name), n, k, storage, undefined, importance);
  };
  const fused = async (
    label: string,
    names: string[],
    ns: number[],
    k: number,
    importance: Float32Array,
    biasNames?: string[],
  ) => {
    const w = concatRows(await Promise.all(names.map((n) => readF32(read, n))));
    const bias = biasNames
      ? concatRows(await Promise.all(biasNames.map((n) => readF32(read, n))))
      : undefined;
    return linearFromF32(
      device,
      label,
      w,
      ns.reduce((a, b) => a + b, 0),
      k,
      quant,
      bias,
      importance,
    );
  };
  const vector = async (name: string) => uploadF32(device, name, await readF32(read, name));
  const normSquared = (g: Float32Array) => g.map((v) => v * v);

  const finalNormF32 = await readF32(read, "model.norm.weight");
  const tied = config.tieWordEmbeddings;
  const headName = tied ? "model.embed_tokens.weight" : "lm_head.weight";
  const head = headStorage(device, config, quant, headQuant, tensors.tensors.get(headName)?.dtype);
  const embed = await matrix(
    "model.embed_tokens.weight",
    vocabSize,
    h,
    tied ? normSquared(finalNormF32) : undefined,
    tied ? head : quant,
  );
  step();
  const layers: LayerWeights[] = [];
  let plan: { resident: number; slots: number } | undefined;
  const slots: LayerWeights[] = [];
  const host = new Map<number, Uint8Array[]>();
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    const a = `${p}.self_attn`;
    const qkvNames = ["q_proj", "k_proj", "v_proj"].map((n) => `${a}.${n}.weight`);
    const qkvRows = [numHeads * headDim, numKvHeads * headDim, numKvHeads * headDim];
    const biasNames = config.attentionBias
      ? ["q_proj", "k_proj", "v_proj"].map((n) => `${a}.${n}.bias`)
      : undefined;
    const inputNorm = await readF32(read, `${p}.input_layernorm.weight`);
    const postNorm = await readF32(read, `${p}.post_attention_layernorm.weight`);
    const layer: LayerWeights = {
      inputNorm: uploadF32(device, `${p}.input_layernorm.weight`, inputNorm),
      postNorm: uploadF32(device, `${p}.post_attention_layernorm.weight`, postNorm),
      qkv: await fused(`${a}.qkv`, qkvNames, qkvRows, h, normSquared(inputNorm), biasNames),
      o: await matrix(`${a}.o_proj.weight`, h, numHeads * headDim),
      gateUp: await fused(
        `${p}.mlp.gate_up`,
        [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`],
        [inter, inter],
        h,
        normSquared(postNorm),
      ),
      down: await matrix(`${p}.mlp.down_proj.weight`, h, inter),
    };
    if (config.qkNorm) {
      layer.qNorm = await vector(`${a}.q_norm.weight`);
      layer.kNorm = await vector(`${a}.k_norm.weight`);
    }
    if (i === 0 && residency) {
      const lmHead = tied ? embed : linearLayout(device, vocabSize, h, head, false).bytes;
      plan = residency(layerBytes(layer), headBytes(embed, lmHead));
    }
    if (plan && i >= plan.resident) {
      // A streamed layer: keep its packed bytes in host memory; the GPU copy goes.
      while (slots.length < plan.slots) slots.push(allocateLayer(device, config, quant, i));
      host.set(i, await readLayer(device, layer));
      for (const b of layerBuffers(layer)) b.destroy();
      layers.push(slots[(i - plan.resident) % slots.length]!);
    } else {
      layers.push(layer);
    }
    step();
  }
  const finalNorm = uploadF32(device, "model.norm.weight", finalNormF32);
  const lmHead = tied ? embed : await matrix("lm_head.weight", vocabSize, h, normSquared(finalNormF32), head);
  step();
  await device.queue.onSubmittedWorkDone();
  const streamer =
    host.size && plan ? new LayerStreamer(device, plan.resident, host.size, slots, host) : undefined;
  return { quant, headQuant, embed, layers, finalNorm, lmHead, ...(streamer ? { streamer } : {}) };
}
