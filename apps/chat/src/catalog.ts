// The model registry (models.json) and what this device can run. Pure functions: no DOM, no GPU, so
// the estimates are unit-tested (test/catalog.test.ts).
import registry from "./models.json";

/** The shape numbers the estimates need (from each model's config.json). */
export interface ModelShape {
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  tiedEmbeddings: boolean;
  maxContext: number;
}

/**
 * The fields of a model's config.json the app reads (a subset of the real file, same names and values):
 * what the estimates below need, and what "Test my device" sends to the SDK's probeDevice.
 */
export interface HfConfig {
  architectures: string[];
  model_type: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  vocab_size: number;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  [key: string]: unknown;
}

export interface CatalogEntry {
  id: string;
  name: string;
  description: string;
  /** A Hugging Face id ("org/name")… */
  hf?: string;
  /** …or a model folder URL (relative to the page). */
  url?: string;
  license: string;
  parameters: number;
  /** Bytes of the files the SDK downloads (weights dominate). */
  downloadBytes: number;
  /** Served by this app's own server (no network needed). */
  local?: boolean;
  /** The model's config.json fields, as in the real file. */
  configJson: HfConfig;
  /** The same numbers, named for the estimates. */
  config: ModelShape;
}

/** config.json → the shape the estimates use (head_dim and KV heads default as transformers does). */
export function shapeOf(c: HfConfig): ModelShape {
  return {
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    vocabSize: c.vocab_size,
    tiedEmbeddings: c.tie_word_embeddings === true,
    maxContext: c.max_position_embeddings,
  };
}

export const CATALOG: CatalogEntry[] = registry.models.map(({ config, ...entry }) => ({
  ...entry,
  configJson: config as HfConfig,
  config: shapeOf(config as HfConfig),
}));

/** What `createEngine({ model })` gets for an entry. */
export function modelInput(entry: CatalogEntry): string {
  return entry.hf ?? entry.url ?? "";
}

/** INT4 storage: 4 bits per weight plus one f16 scale per block of 32 (ARCHITECTURE.md). */
const INT4_BYTES_PER_WEIGHT = 0.5 + 2 / 32;
/** The runtime uploads f32 weights in chunks of at most 64 MiB before quantizing them on the GPU. */
const UPLOAD_CHUNK = 64 * 2 ** 20;
/** Tokens per prefill chunk (the runtime's scratch buffers are sized for it). */
const PREFILL_CHUNK = 512;

interface Matrix {
  rows: number;
  cols: number;
}

function matrices(c: ModelShape): { perLayer: Matrix[]; global: Matrix[] } {
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const perLayer: Matrix[] = [
    { rows: q + 2 * kv, cols: c.hiddenSize }, // fused q/k/v
    { rows: c.hiddenSize, cols: q }, // o
    { rows: 2 * c.intermediateSize, cols: c.hiddenSize }, // fused gate/up
    { rows: c.hiddenSize, cols: c.intermediateSize }, // down
  ];
  const global: Matrix[] = [{ rows: c.vocabSize, cols: c.hiddenSize }];
  if (!c.tiedEmbeddings) global.push({ rows: c.vocabSize, cols: c.hiddenSize });
  return { perLayer, global };
}

/** INT4 bytes of the packed 4-bit array of one matrix (K padded to whole blocks of 32). */
function int4Bytes(m: Matrix): number {
  return m.rows * Math.ceil(m.cols / 32) * 16;
}

export interface Estimate {
  /** GPU bytes of the INT4 weights. */
  weights: number;
  /** GPU bytes of the f32 KV cache at `contextLength`. */
  kvCache: number;
  /** Activations, logits and upload staging. */
  scratch: number;
  total: number;
  /** The largest single GPU buffer a weight needs (the binding limit must hold it whole). */
  largestTensor: number;
  contextLength: number;
}

/** The context the app loads a model with: the setting, capped by the model's maximum. */
export function contextFor(entry: { config: ModelShape }, wanted: number): number {
  return Math.max(16, Math.min(entry.config.maxContext, wanted));
}

export function estimate(c: ModelShape, contextLength: number): Estimate {
  const { perLayer, global } = matrices(c);
  let weightCount = 0;
  let largest = 0;
  for (const m of [...perLayer, ...global]) largest = Math.max(largest, int4Bytes(m));
  for (const m of perLayer) weightCount += m.rows * m.cols * c.layers;
  for (const m of global) weightCount += m.rows * m.cols;
  const norms = (c.layers * 2 + 1) * c.hiddenSize * 4;
  const weights = Math.ceil(weightCount * INT4_BYTES_PER_WEIGHT) + norms;
  const kvCache = c.layers * 2 * contextLength * c.kvHeads * c.headDim * 4;
  const widest = Math.max(c.hiddenSize, 2 * c.intermediateSize, (c.heads + 2 * c.kvHeads) * c.headDim);
  const activations = PREFILL_CHUNK * (3 * c.hiddenSize + 2 * widest) * 4;
  const logits = c.vocabSize * 4 * 2;
  const staging = Math.min(UPLOAD_CHUNK, c.vocabSize * c.hiddenSize * 4);
  const scratch = activations + logits + staging;
  return {
    weights,
    kvCache,
    scratch,
    total: weights + kvCache + scratch,
    largestTensor: largest,
    contextLength,
  };
}

/** What the page learned about the GPU (null fields: no WebGPU). */
export interface DeviceInfo {
  webgpu: boolean;
  /** "NVIDIA …", "SwiftShader", … when the browser tells. */
  adapter?: string;
  /** A software rasterizer (SwiftShader): everything runs on the CPU. */
  software?: boolean;
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
  /** navigator.deviceMemory in bytes (Chrome caps it at 8 GiB), a rough memory budget. */
  deviceMemory?: number;
}

export type FitLevel = "ok" | "tight" | "no" | "unknown";

export interface Fit {
  level: FitLevel;
  /** Two or three words: "Runs here", "Too large", … */
  label: string;
  /** One short sentence: why. */
  reason: string;
}

export function fitFor(est: Estimate, device: DeviceInfo, formatBytes: (n: number) => string): Fit {
  if (!device.webgpu) {
    return {
      level: "no",
      label: "Can't run",
      reason: "This browser has no WebGPU, so no model can run here.",
    };
  }
  const binding = device.maxStorageBufferBindingSize;
  const buffer = device.maxBufferSize;
  if (binding === undefined || buffer === undefined) {
    return { level: "unknown", label: "Unknown", reason: "The GPU's limits are not known yet." };
  }
  const limit = Math.min(binding, buffer);
  if (est.largestTensor > limit) {
    return {
      level: "no",
      label: "Too large",
      reason: `Its largest weight (${formatBytes(est.largestTensor)}) is over this GPU's buffer limit (${formatBytes(limit)}).`,
    };
  }
  // WebGPU does not say how much memory a GPU has; half the device's RAM is a cautious budget.
  if (device.deviceMemory !== undefined && est.total > device.deviceMemory / 2) {
    return {
      level: "tight",
      label: "May not fit",
      reason: `Needs about ${formatBytes(est.total)} of GPU memory; this device may not have that much free.`,
    };
  }
  if (device.software && est.weights > 64 * 2 ** 20) {
    return {
      level: "tight",
      label: "Slow here",
      reason: "Fits, but this is a software GPU (SwiftShader): expect well under one token per second.",
    };
  }
  return { level: "ok", label: "Runs here", reason: `About ${formatBytes(est.total)} of GPU memory.` };
}
