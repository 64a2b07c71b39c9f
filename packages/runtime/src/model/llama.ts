// The Llama-family graph (Llama 2/3.x, SmolLM2, TinyLlama, Qwen2 with qkv bias, Qwen3 with qk-norm)
// as kernel dispatches. Everything is made at load time except prefill chunks (one set per chunk
// length, cached): a decode step is one fixed list of dispatches, reading the token id the sampler
// wrote and the position from small storage buffers. A forward pass is kept in three parts so the
// engine can put weight uploads between streamed layers (streaming.ts); without streaming the parts
// are encoded as one compute pass.
import {
  attentionDecode,
  attentionDecodeScratch,
  attentionPrefill,
  type Dispatch,
  defaultDecodeSplits,
  type EmbeddingTable,
  embedding,
  type GemvFusion,
  type Int4GemvMath,
  residualAdd,
  rmsNorm,
  ropeKvAppend,
  ropePhaseBuffer,
  swiglu,
} from "@wisp/kernels";
import type { ModelConfig } from "../config.ts";
import type { KvCache } from "./kv-cache.ts";
import { gemm, gemv, storageBuffer, type TunedVariants } from "./linear.ts";
import type { ModelWeights } from "./weights.ts";

/** Activations for up to `chunk` tokens (shapes in f32 elements). */
export interface Activations {
  chunk: number;
  /** (chunk, hidden): the residual stream */
  x: GPUBuffer;
  /** (chunk, hidden): normed stream */
  h: GPUBuffer;
  /** (chunk, (nHeads + 2·nKvHeads)·headDim) */
  qkv: GPUBuffer;
  /** (chunk, nHeads·headDim) */
  attn: GPUBuffer;
  /** (chunk, hidden): o_proj / down_proj outputs before the residual add */
  proj: GPUBuffer;
  /** (chunk, 2·I) */
  gateUp: GPUBuffer;
  /** (chunk, I) */
  act: GPUBuffer;
  /** (hidden): the last position's normed state, lm_head's input */
  hLast: GPUBuffer;
  /** (vocab padded to 4): one position's logits */
  logits: GPUBuffer;
  /** (chunk) u32 prompt ids of the chunk */
  ids: GPUBuffer;
  /** u32 [pos0, 0, 0, 0]: position of the first token of the current pass */
  pos: GPUBuffer;
}

/** Bytes of the activations (createActivations) for prefill chunks of `chunk` tokens. */
export function activationBytes(c: ModelConfig, chunk: number): number {
  const qkvWidth = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
  const perToken = 3 * c.hiddenSize + qkvWidth + c.numHeads * c.headDim + 3 * c.intermediateSize + 1;
  return 4 * (chunk * perToken + c.hiddenSize + c.vocabSize + 4);
}

function createActivations(device: GPUDevice, c: ModelConfig, chunk: number): Activations {
  const f32 = (label: string, n: number) => storageBuffer(device, label, n * 4);
  const qkvWidth = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
  return {
    chunk,
    x: f32("x", chunk * c.hiddenSize),
    h: f32("h", chunk * c.hiddenSize),
    qkv: f32("qkv", chunk * qkvWidth),
    attn: f32("attn", chunk * c.numHeads * c.headDim),
    proj: f32("proj", chunk * c.hiddenSize),
    gateUp: f32("gateUp", chunk * 2 * c.intermediateSize),
    act: f32("act", chunk * c.intermediateSize),
    hLast: f32("hLast", c.hiddenSize),
    logits: f32("logits", c.vocabSize),
    ids: f32("ids", chunk),
    pos: f32("pos", 4),
  };
}

/** One forward pass: `head` (embedding + resident layers), each streamed layer, then `tail`. */
export interface ForwardPass {
  head: Dispatch[];
  streamed: { layer: number; dispatches: Dispatch[] }[];
  tail: Dispatch[];
}

export class LlamaGraph {
  readonly act: Activations;
  private readonly phase: GPUBuffer;
  private readonly scratch: ReturnType<typeof attentionDecodeScratch>;
  private readonly prefillCache = new Map<number, ForwardPass>();
  private decode?: ForwardPass;

  constructor(
    private readonly device: GPUDevice,
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    readonly kv: KvCache,
    chunk: number,
    /** this device's autotuned decode GEMV variants (model/tuning.ts; bit-identical to the default) */
    readonly tuned?: TunedVariants,
    /** the decode GEMVs' arithmetic with INT4 weights (LoadOptions.activations) */
    readonly math: Int4GemvMath = "f32",
  ) {
    this.act = createActivations(device, config, chunk);
    const scaling = config.ropeScaling;
    this.phase = ropePhaseBuffer(device, {
      headDim: config.headDim,
      theta: config.ropeTheta,
      ...(scaling.type === "none" ? {} : { scaling }),
    } as Parameters<typeof ropePhaseBuffer>[1]);
    const heads = { nHeads: config.numHeads, nKvHeads: config.numKvHeads, headDim: config.headDim };
    this.scratch = attentionDecodeScratch(device, heads, defaultDecodeSplits(kv.capacity, config.numKvHeads));
  }

  private table(): EmbeddingTable {
    const p = this.weights.embed.parts;
    if (p.length !== 1)
      throw new RangeError("the embedding table exceeds one storage binding on this device");
    const b = p[0]!.buffers;
    if (!("qweight" in b)) return { format: "f32", table: b.w };
    // A tied table is the lm_head's storage: INT8 in an INT4 model (weights.ts headStorage).
    const format = this.weights.embed.quant === "int8" ? "int8" : "int4";
    return { format, qweight: b.qweight, scales: b.scales };
  }

  /**
   * The transformer layers for T tokens whose embeddings are in x (one dispatch list per layer);
   * prefill uses GEMM + flash attention.
   */
  private layers(tokens: number, decode: boolean): Dispatch[][] {
    const { device, config: c, weights: w, kv, act: a } = this;
    const lists: Dispatch[][] = [];
    const heads = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim };
    const qRowStride = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
    const lin = (l: (typeof w.layers)[number]["qkv"], x: GPUBuffer, y: GPUBuffer) =>
      decode ? gemv(device, l, tokens, x, y) : [gemm(device, l, tokens, x, y)];
    const norm = (weight: GPUBuffer) =>
      rmsNorm(device, { rows: tokens, dim: c.hiddenSize, eps: c.rmsNormEps }, { x: a.x, weight, out: a.h });
    const residual = () => residualAdd(device, { n: tokens * c.hiddenSize }, { x: a.x, y: a.proj });
    // Decode with INT4 weights folds the norms, SwiGLU and the residual adds into the GEMVs
    // (int4_gemv.wgsl, bit-identical to the separate kernels); prefill and f32 weights run them apart.
    const fused = decode && w.quant === "int4";
    // With q8 activations the down projection keeps f32 x: its SwiGLU input carries the outliers 8-bit
    // rounding hurts most, and it was no faster in the step (ARCHITECTURE.md, "q8 activations").
    const fg = (
      l: (typeof w.layers)[number]["qkv"],
      x: GPUBuffer,
      y: GPUBuffer,
      fuse: GemvFusion,
      math: Int4GemvMath = this.math,
    ) => gemv(device, l, tokens, x, y, 0, fuse, this.tuned, math);
    w.layers.forEach((l, i) => {
      const out: Dispatch[] = [];
      lists.push(out);
      if (fused) {
        out.push(...fg(l.qkv, a.x, a.qkv, { norm: { weight: l.inputNorm, eps: c.rmsNormEps } }));
      } else {
        out.push(norm(l.inputNorm), ...lin(l.qkv, a.h, a.qkv));
      }
      // Decode without q/k norm folds RoPE and the KV append into the attention split pass (one
      // dispatch fewer per layer); prefill and Qwen3's q/k norm run rope_kv_append first.
      const ropeInAttention = decode && !c.qkNorm;
      if (!ropeInAttention)
        out.push(
          ropeKvAppend(
            device,
            {
              tokens,
              ...heads,
              numPages: kv.numPages,
              ...(c.qkNorm ? { qkNorm: { eps: c.rmsNormEps } } : {}),
            },
            {
              qkv: a.qkv,
              pos: a.pos,
              pageTable: kv.pageTable,
              phase: this.phase,
              kCache: kv.k[i]!,
              vCache: kv.v[i]!,
              ...(l.qNorm && l.kNorm ? { qNorm: l.qNorm, kNorm: l.kNorm } : {}),
            },
          ),
        );
      const attnIo = { q: a.qkv, k: kv.k[i]!, v: kv.v[i]!, pageTable: kv.pageTable, pos: a.pos, out: a.attn };
      if (decode) {
        out.push(
          ...attentionDecode(
            device,
            { ...heads, qRowStride, tokens, maxSeqLen: kv.capacity },
            { ...attnIo, scratch: this.scratch },
            { splits: this.scratch.splits },
            ropeInAttention ? { phase: this.phase, numPages: kv.numPages } : undefined,
          ),
        );
      } else {
        out.push(attentionPrefill(device, { ...heads, qRowStride, tokens }, attnIo));
      }
      if (fused) {
        out.push(
          ...fg(l.o, a.attn, a.x, { residual: true }),
          ...fg(l.gateUp, a.x, a.gateUp, { norm: { weight: l.postNorm, eps: c.rmsNormEps } }),
          ...fg(l.down, a.gateUp, a.x, { swiglu: true, residual: true }, "f32"),
        );
      } else {
        out.push(...lin(l.o, a.attn, a.proj), residual(), norm(l.postNorm), ...lin(l.gateUp, a.h, a.gateUp));
        out.push(swiglu(device, { tokens, inter: c.intermediateSize }, { gateUp: a.gateUp, out: a.act }));
        out.push(...lin(l.down, a.act, a.proj), residual());
      }
    });
    return lists;
  }

  /** Splits per-layer lists around the streamed layers (all of them resident: streamed is empty). */
  private pass(first: Dispatch[], layers: Dispatch[][], tail: Dispatch[]): ForwardPass {
    const resident = this.weights.streamer?.resident ?? layers.length;
    return {
      head: [...first, ...layers.slice(0, resident).flat()],
      streamed: layers.slice(resident).map((dispatches, j) => ({ layer: resident + j, dispatches })),
      tail,
    };
  }

  /**
   * Prefill of T ≤ chunk tokens (ids in act.ids, pos0 in act.pos): embeddings, every layer (KV
   * written), then the final norm of all T rows into act.h. The caller copies the row it needs to
   * hLast and runs head().
   */
  prefill(tokens: number): ForwardPass {
    let d = this.prefillCache.get(tokens);
    if (!d) {
      const { device, config: c, act: a } = this;
      d = this.pass(
        [
          embedding(
            device,
            { tokens, dim: c.hiddenSize, vocab: c.vocabSize },
            { ids: a.ids, out: a.x, ...this.table() },
          ),
        ],
        this.layers(tokens, false),
        [
          rmsNorm(
            device,
            { rows: tokens, dim: c.hiddenSize, eps: c.rmsNormEps },
            { x: a.x, weight: this.weights.finalNorm, out: a.h },
          ),
        ],
      );
      this.prefillCache.set(tokens, d);
    }
    return d;
  }

  /** The decode step's dispatches once built (decodeStep), for counting. */
  get decodePass(): ForwardPass | undefined {
    return this.decode;
  }

  /**
   * lm_head on hLast → logits. Always one row (the last position when generating; `logits` runs it per
   * position), so a GEMV suffices for every storage: the INT8 lm_head has no GEMM.
   */
  head(): Dispatch[] {
    return gemv(this.device, this.weights.lmHead, 1, this.act.hLast, this.act.logits);
  }

  /**
   * One decode step without the sampler: embed the token id at word 1 of `ids` (the sampler's state
   * buffer), run every layer at position pos0, normalize into hLast, lm_head → logits.
   */
  decodeStep(ids: GPUBuffer): ForwardPass {
    if (!this.decode) {
      const { device, config: c, act: a } = this;
      this.decode = this.pass(
        [
          embedding(
            device,
            { tokens: 1, dim: c.hiddenSize, vocab: c.vocabSize, idOffset: 1 },
            { ids, out: a.x, ...this.table() },
          ),
        ],
        this.layers(1, true),
        [
          rmsNorm(
            device,
            { rows: 1, dim: c.hiddenSize, eps: c.rmsNormEps },
            { x: a.x, weight: this.weights.finalNorm, out: a.hLast },
          ),
          ...this.head(),
        ],
      );
    }
    return this.decode;
  }
}
