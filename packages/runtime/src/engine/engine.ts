// The engine for one model on one device: load (open → weights → graph), logits (by prefill, or through
// the decode step teacher-forced), and generate (prefill, then a pipelined GPU token loop with stop
// checks behind it). Requests are queued: one runs at a time, never interleaved.
import { type Dispatch, encodeDispatch, type Int4GemvMath } from "@wisp/kernels";
import type { ModelConfig } from "../config.ts";
import { Aborted, ContextLengthExceeded, ModelFileError } from "../errors.ts";
import { openModel } from "../loader/model.ts";
import type { FileSource } from "../loader/source.ts";
import { createKvCache, destroyKvCache, kvCacheBytes } from "../model/kv-cache.ts";
import { destroyLinear, type Quant } from "../model/linear.ts";
import { activationBytes, type ForwardPass, LlamaGraph } from "../model/llama.ts";
import {
  hostLayerCount,
  layerSource,
  type PackedCache,
  readPackedMeta,
  weightsFromPacked,
  writePacked,
} from "../model/packed.ts";
import { headBytes, layerBytes, planResidency, type StreamStats } from "../model/streaming.ts";
import { type TuneOptions, type TuneResult, tuneDecodeGemvs } from "../model/tuning.ts";
import { type HeadQuant, loadWeights, type ModelWeights, type ResidencyPlan } from "../model/weights.ts";
import type { Tokenizer } from "../tokenizer/index.ts";
import { GpuSampler } from "./sampler.ts";
import { type GenerateOptions, type GenerateResult, StopChecker } from "./stop.ts";
import { folderTokenizer, ggufTokenizer, packedGgufTokenizer } from "./tokenizer-source.ts";

export interface LoadOptions {
  /** Weight storage: INT4 (quantized on the GPU at load; default) or unquantized f32. */
  quant?: Quant;
  /**
   * With INT4: the lm_head's (and a tied embedding's) storage, "int8" (default: 8.5 bits a weight; 4 bits
   * cost stories260K +14.6% perplexity) or "int4" (half its bytes per token). See weights.ts headStorage.
   */
  headQuant?: HeadQuant;
  /**
   * With INT4 weights: the decode GEMVs' activations. "f32" (default) multiplies exactly dequantized
   * weights by f32 x; "q8" rounds x to 8 bits per block of 32 (d = max|x|/127, as llama.cpp's Q8_0)
   * and sums integer products, four per dot4I8Packed: fewer instructions per weight. Prefill and the
   * lm_head are unchanged. Tuned splits (`tune`) apply to "f32" only.
   */
  activations?: Int4GemvMath;
  /** KV cache size in tokens (default min(config.maxPositionEmbeddings, 4096)). */
  contextLength?: number;
  /** Tokens per prefill pass (default 512). */
  prefillChunk?: number;
  ggufFile?: string;
  /** Load without tokenizer files (the `logits` command). */
  requireTokenizer?: boolean;
  /**
   * Where tokenizer.json etc. live when not beside the weights. Given, it wins over everything; otherwise
   * a GGUF checkpoint's tokenizer comes from its own metadata (tokenizer.ggml.*), and a GGUF without one
   * falls back to tokenizer.json beside it.
   */
  tokenizerSource?: FileSource;
  /**
   * GPU memory budget in bytes for weights, KV cache and activations. When the model does not fit,
   * the first layers that fit stay resident and the rest stream from host memory through
   * `streamSlots` GPU layer slots (default 2) every forward pass. Default: no budget (all resident).
   */
  gpuMemoryBudget?: number;
  streamSlots?: number;
  /**
   * Host memory for streamed layers (bytes). Default: every streamed layer stays in host memory.
   * Bounded, the layers that do not fit are re-read from `packed` (the weight store) every pass it
   * needs them; needs `packed`.
   */
  hostMemoryBudget?: number;
  /**
   * A cache of packed weights (the weight store's blobs): when it holds a complete set for this
   * storage and device, the checkpoint is not read and nothing is quantized ("read" progress);
   * otherwise the load fills it.
   */
  packed?: PackedCache;
  /**
   * Autotune the decode GEMVs on this device (≤ budgetMs, default 2 s; choices cached in `cache` by
   * adapter and shape, so later loads time nothing). Output is bit-identical either way. Default: off.
   */
  tune?: TuneOptions;
  /**
   * Phases in order: "download" (bytes), "quantize" (layers), "compile", "warmup" — or "read" (packed
   * groups) instead of the first two; fraction 0..1 each.
   */
  onProgress?: (p: { phase: string; loaded: number; total: number; fraction: number }) => void;
}

/** Context, prefill chunk and (with a budget) the residency decision, shared by every way to load. */
export interface ResidencyPlanState {
  context: number;
  chunk: number;
  residency?: ResidencyPlan;
  /** Bytes always on the GPU: embedding + lm_head (`head`), KV cache, activations. */
  fixedBytes(head: number): number;
}

export function residencyPlan(config: ModelConfig, options: LoadOptions): ResidencyPlanState {
  const context = options.contextLength ?? Math.min(config.maxPositionEmbeddings, 4096);
  const chunk = Math.min(options.prefillChunk ?? 512, Math.ceil(context / 16) * 16);
  const budget = options.gpuMemoryBudget;
  if (budget !== undefined && !(budget > 0))
    throw new RangeError(`gpuMemoryBudget must be > 0 bytes, got ${budget}`);
  const state: ResidencyPlanState = {
    context,
    chunk,
    fixedBytes: (head) => head + kvCacheBytes(config, context) + activationBytes(config, chunk),
  };
  if (budget !== undefined) {
    state.residency = (perLayer, head) => {
      return planResidency(
        budget,
        state.fixedBytes(head),
        perLayer,
        config.numLayers,
        Math.max(1, options.streamSlots ?? 2),
      );
    };
  }
  return state;
}

/** GPU memory as planned, in bytes (Engine.memory). */
export interface EngineMemory {
  /** One layer's weights. */
  perLayerBytes: number;
  /** Always on the GPU: embedding + lm_head, KV cache, activations. */
  fixedBytes: number;
  /** The whole model resident. */
  totalBytes: number;
  /** What a load holds: resident layers + streaming slots (= totalBytes without streaming). */
  residentBytes: number;
}

/**
 * The memory plan of a model of `numLayers` layers of `perLayer` bytes with `head` bytes of embedding
 * + lm_head under `plan`; `streaming` when some layers stream (planResidency's answer). The engine
 * reports this after a load and the device probe before one (probe.ts), from the same numbers.
 */
export function plannedMemory(
  plan: ResidencyPlanState,
  numLayers: number,
  perLayer: number,
  head: number,
  streaming?: { resident: number; slots: number },
): EngineMemory {
  const fixed = plan.fixedBytes(head);
  return {
    perLayerBytes: perLayer,
    fixedBytes: fixed,
    totalBytes: fixed + perLayer * numLayers,
    residentBytes: fixed + perLayer * ((streaming?.resident ?? numLayers) + (streaming?.slots ?? 0)),
  };
}

/** Steps queued on the GPU ahead of the token the CPU is reading (stop checks run behind). */
const IN_FLIGHT = 3;

export class Engine {
  private queue: Promise<unknown> = Promise.resolve();
  /** head + tail of each resident forward pass, concatenated once (the decode hot path). */
  private readonly whole = new WeakMap<ForwardPass, Dispatch[]>();
  /**
   * GPU memory as planned (bytes): one layer's weights; the fixed part (embedding + lm_head, KV cache,
   * activations); the whole model resident; what this load holds (resident layers + streaming slots).
   */
  memory: EngineMemory = { perLayerBytes: 0, fixedBytes: 0, totalBytes: 0, residentBytes: 0 };
  /** True when the weights came from a packed cache (no checkpoint read, no quantization). */
  fromPacked = false;
  /** Pipeline building (every decode pipeline, synchronously checked) and the warm-up generation. */
  loadTimings = { tuneMs: 0, compileMs: 0, warmupMs: 0 };
  /** The autotuner's choices and timings (LoadOptions.tune), for the bench and --stats. */
  tuning?: TuneResult;
  /**
   * Since load: queue submits, decode steps queued, and host (JS) milliseconds spent inside the token
   * loop on queuing steps and on reading/checking tokens — not waiting for the GPU.
   */
  readonly counters = { submits: 0, decodeSteps: 0, loopHostMs: 0 };
  private readonly staging: GPUBuffer[];

  private constructor(
    readonly device: GPUDevice,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer | undefined,
    readonly graph: LlamaGraph,
    private readonly sampler: GpuSampler,
    readonly quant: Quant,
  ) {
    this.staging = Array.from({ length: IN_FLIGHT }, () =>
      device.createBuffer({
        label: "readback",
        size: 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }),
    );
  }

  static async load(device: GPUDevice, source: FileSource, options: LoadOptions = {}): Promise<Engine> {
    const quant = options.quant ?? "int4";
    if (options.hostMemoryBudget !== undefined && !options.packed) {
      throw new RangeError(
        "hostMemoryBudget needs a packed cache (the weight store) to re-read streamed layers from",
      );
    }
    const progress = (p: { phase: string; loaded: number; total: number }) =>
      options.onProgress?.({ ...p, fraction: p.loaded / p.total });
    const explicitTokenizer = options.tokenizerSource;
    let tokenizer = explicitTokenizer ? await folderTokenizer(explicitTokenizer) : undefined;
    const packed = options.packed;
    const headQuant = options.headQuant ?? "int8";
    const meta = packed ? await readPackedMeta(device, packed, quant, headQuant) : undefined;
    if (packed && meta) {
      // The packed weights of an earlier load: no checkpoint parsing, no quantization.
      const config = meta.config;
      // No checkpoint here to read a GGUF's metadata from: the earlier load recorded its tokenizer.
      if (!explicitTokenizer)
        tokenizer = (await packedGgufTokenizer(packed)) ?? (await folderTokenizer(source));
      if ((options.requireTokenizer ?? true) && !tokenizer) {
        throw new ModelFileError('model file "tokenizer.json" not found', {
          kind: "missing_file",
          file: "tokenizer.json",
        });
      }
      const plan = residencyPlan(config, options);
      const weights = await weightsFromPacked(
        device,
        config,
        quant,
        async (g) => {
          const bytes = await packed.get(`packed/${g}`);
          if (!bytes || bytes.byteLength !== meta.groups[g]) {
            throw new ModelFileError(`the cached packed weights lack "${g}" or it is truncated`, {
              kind: "truncated",
              file: `packed/${g}`,
            });
          }
          return bytes;
        },
        plan.residency,
        progress,
        options.hostMemoryBudget,
        { quant: meta.headQuant, storage: meta.head },
      );
      return Engine.start(device, config, tokenizer, weights, plan, options, true);
    }
    const opened = await openModel(source, {
      ...(options.ggufFile ? { ggufFile: options.ggufFile } : {}),
      requireTokenizer: options.requireTokenizer ?? true,
    });
    if (!explicitTokenizer) {
      const fromGguf = opened.ggufMetadata
        ? await ggufTokenizer(opened.ggufMetadata, opened.ggufFile, packed, options.requireTokenizer ?? true)
        : undefined;
      tokenizer = fromGguf ?? (await folderTokenizer(source));
    }
    const config = opened.config;
    const plan = residencyPlan(config, options);
    const weights = await loadWeights(
      device,
      config,
      opened.tensors,
      quant,
      progress,
      plan.residency,
      headQuant,
    );
    if (packed) await writePacked(device, config, weights, packed);
    const slot = weights.streamer?.slots[0];
    if (packed && slot && options.hostMemoryBudget !== undefined) {
      weights.streamer!.bound(
        hostLayerCount(options.hostMemoryBudget, slot),
        layerSource(async (g) => (await packed.get(`packed/${g}`)) ?? new Uint8Array(0), slot),
      );
    }
    return Engine.start(device, config, tokenizer, weights, plan, options, false);
  }

  /**
   * An engine over weights made elsewhere (the bench's random INT4 weights of real shapes). With a
   * gpuMemoryBudget, `weights` must come from weightsFromPacked with the same plan (residencyPlan).
   */
  static fromWeights(
    device: GPUDevice,
    config: ModelConfig,
    weights: ModelWeights,
    plan: ResidencyPlanState,
    options: LoadOptions = {},
  ): Promise<Engine> {
    return Engine.start(device, config, undefined, weights, plan, options, false);
  }

  private static async start(
    device: GPUDevice,
    config: ModelConfig,
    tokenizer: Tokenizer | undefined,
    weights: ModelWeights,
    plan: ResidencyPlanState,
    options: LoadOptions,
    fromPacked: boolean,
  ): Promise<Engine> {
    const { context, chunk } = plan;
    const kv = createKvCache(device, config, context);
    options.onProgress?.({ phase: "compile", loaded: 0, total: 1, fraction: 0 });
    let t = performance.now();
    // Autotuning times candidate work splits of the decode GEMVs on this device (cached by adapter and
    // shape) before the decode pipelines are built with the fastest.
    const tuning =
      options.tune && weights.quant === "int4"
        ? await tuneDecodeGemvs(device, config, weights.layers, options.tune)
        : undefined;
    const tuneMs = performance.now() - t;
    const graph = new LlamaGraph(
      device,
      config,
      weights,
      kv,
      Math.min(chunk, kv.capacity),
      tuning?.variants,
      options.activations ?? "f32",
    );
    const sampler = new GpuSampler(device, config.vocabSize, graph.act.logits, kv.capacity);
    const engine = new Engine(device, config, tokenizer, graph, sampler, weights.quant);
    engine.fromPacked = fromPacked;
    // A streamed layer's slot has the resident layers' layout, so layer 0 gives the per-layer size.
    const streamer = weights.streamer;
    engine.memory = plannedMemory(
      plan,
      config.numLayers,
      layerBytes(weights.layers[0]!),
      headBytes(weights.embed, weights.lmHead),
      streamer ? { resident: streamer.resident, slots: streamer.slots.length } : undefined,
    );
    if (tuning) engine.tuning = tuning;
    engine.loadTimings.tuneMs = tuneMs;
    t = performance.now();
    engine.graph.decodeStep(sampler.state); // builds every decode pipeline now, not at the first token
    await device.queue.onSubmittedWorkDone();
    engine.loadTimings.compileMs = performance.now() - t;
    options.onProgress?.({ phase: "compile", loaded: 1, total: 1, fraction: 1 });
    // Warm-up: one prefill + two decode steps, so drivers that compile lazily do it now, not at the
    // user's first token.
    options.onProgress?.({ phase: "warmup", loaded: 0, total: 1, fraction: 0 });
    t = performance.now();
    await engine.generate([config.bosTokenId ?? 0], { maxTokens: 3, temperature: 0, ignoreEos: true });
    engine.loadTimings.warmupMs = performance.now() - t;
    options.onProgress?.({ phase: "warmup", loaded: 1, total: 1, fraction: 1 });
    return engine;
  }

  /** Weight streaming counters (undefined when every layer is resident). */
  get streamStats(): StreamStats | undefined {
    return this.graph.weights.streamer?.stats;
  }

  get contextLength(): number {
    return this.graph.kv.capacity;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private submit(passes: Array<Dispatch[] | ((enc: GPUCommandEncoder) => void)>): void {
    const enc = this.device.createCommandEncoder();
    for (const p of passes) {
      if (typeof p === "function") {
        p(enc);
        continue;
      }
      const pass = enc.beginComputePass();
      for (const d of p) encodeDispatch(pass, d);
      pass.end();
    }
    this.device.queue.submit([enc.finish()]);
    this.counters.submits++;
  }

  /**
   * Submits one forward pass with `before` and `after` around it. Resident: one command buffer.
   * Streaming: the head, then each streamed layer in its own submit, with the uploads of the next
   * `slots` layers queued ahead (each after the submit that last read its slot).
   */
  private async forward(
    pass: ForwardPass,
    before: Array<Dispatch[] | ((enc: GPUCommandEncoder) => void)> = [],
    after: Array<Dispatch[] | ((enc: GPUCommandEncoder) => void)> = [],
  ): Promise<void> {
    const streamer = this.graph.weights.streamer;
    if (!streamer) {
      // Every layer resident (pass.streamed is empty): one compute pass, its list built once per pass.
      let all = this.whole.get(pass);
      if (!all) {
        all = [...pass.head, ...pass.tail];
        this.whole.set(pass, all);
      }
      this.submit([...before, all, ...after]);
      return;
    }
    const layers = pass.streamed;
    let next = 0;
    // Host bytes first (a fetch from the packed cache when host memory is bounded), then the upload.
    const upload = async () => {
      const layer = layers[next++]!.layer;
      const fetching = streamer.fetch(layer);
      if (fetching) await fetching;
      await streamer.upload(layer);
    };
    while (next < Math.min(streamer.slots.length, layers.length)) await upload();
    this.submit([...before, pass.head]);
    for (let i = 0; i < layers.length; i++) {
      const last = i === layers.length - 1;
      this.submit(last ? [[...layers[i]!.dispatches, ...pass.tail], ...after] : [layers[i]!.dispatches]);
      if (next < layers.length) await upload();
    }
  }

  /**
   * Runs the prompt through every layer in chunks (KV filled); after each chunk its final-normed rows
   * are in act.h, where `afterChunk` may read them before the next chunk overwrites them.
   */
  private async prefill(
    ids: readonly number[],
    afterChunk?: (tokens: number) => Promise<void>,
  ): Promise<void> {
    const a = this.graph.act;
    for (let start = 0; start < ids.length; start += a.chunk) {
      const tokens = Math.min(a.chunk, ids.length - start);
      this.device.queue.writeBuffer(a.ids, 0, Uint32Array.from(ids.slice(start, start + tokens)));
      this.device.queue.writeBuffer(a.pos, 0, Uint32Array.of(start, 0, 0, 0));
      await this.forward(this.graph.prefill(tokens));
      await afterChunk?.(tokens);
    }
  }

  private checkContext(tokens: number): void {
    if (tokens === 0) throw new RangeError("the prompt is empty");
    if (tokens > this.contextLength) {
      throw new ContextLengthExceeded(
        `the prompt has ${tokens} tokens but the context holds ${this.contextLength}; shorten it or load with a larger contextLength`,
        { promptTokens: tokens, contextLength: this.contextLength },
      );
    }
  }

  /**
   * Full-vocabulary logits of every position. By default all come from prefill. With `decode`, the
   * first position comes from prefill and every later one from the decode step, teacher-forced (the
   * given id, not a sampled one): the kernels generation runs (fused GEMVs, LoadOptions.activations).
   */
  logits(ids: readonly number[], options: { decode?: boolean } = {}): Promise<Float32Array[]> {
    return this.serialize(async () => {
      this.checkContext(ids.length);
      const { act } = this.graph;
      const h = this.config.hiddenSize;
      const v = this.config.vocabSize;
      const out: Float32Array[] = [];
      const read = this.device.createBuffer({
        size: Math.ceil(v / 4) * 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const copyLogits = (enc: GPUCommandEncoder) =>
        enc.copyBufferToBuffer(act.logits, 0, read, 0, read.size);
      const take = async () => {
        await read.mapAsync(GPUMapMode.READ);
        out.push(new Float32Array(read.getMappedRange().slice(0, v * 4)));
        read.unmap();
      };
      await this.prefill(options.decode ? ids.slice(0, 1) : ids, async (tokens) => {
        for (let t = 0; t < tokens; t++) {
          this.submit([
            (enc) => enc.copyBufferToBuffer(act.h, t * h * 4, act.hLast, 0, h * 4),
            this.graph.head(),
            copyLogits,
          ]);
          await take();
        }
      });
      if (options.decode) {
        // The decode step embeds the id at word 1 of the sampler's state: the forced id goes there.
        const step = this.graph.decodeStep(this.sampler.state);
        for (let p = 1; p < ids.length; p++) {
          this.device.queue.writeBuffer(this.sampler.state, 4, Uint32Array.of(ids[p]!));
          this.device.queue.writeBuffer(act.pos, 0, Uint32Array.of(p, 0, 0, 0));
          await this.forward(step, [], [copyLogits]);
          await take();
        }
      }
      read.destroy();
      return out;
    });
  }

  generate(promptIds: readonly number[], options: GenerateOptions = {}): Promise<GenerateResult> {
    return this.serialize(() => this.run(promptIds, options));
  }

  private async run(promptIds: readonly number[], o: GenerateOptions): Promise<GenerateResult> {
    this.checkContext(promptIds.length);
    if (o.signal?.aborted) throw new Aborted("the request was aborted before it started");
    const { act } = this.graph;
    const h = this.config.hiddenSize;
    const room = this.contextLength - promptIds.length;
    const maxTokens = Math.min(o.maxTokens ?? 256, room + 1);
    const stop = new StopChecker(this.tokenizer, this.config.eosTokenIds, o);
    const t0 = performance.now();
    const countPrompt = this.sampler.reset(
      {
        temperature: o.temperature ?? 1,
        topK: o.topK ?? 0,
        topP: o.topP ?? 1,
        minP: o.minP ?? 0,
        repetitionPenalty: o.repetitionPenalty ?? 1,
        frequencyPenalty: o.frequencyPenalty ?? 0,
        presencePenalty: o.presencePenalty ?? 0,
        seed: o.seed ?? Math.floor(Math.random() * 2 ** 32),
      },
      promptIds,
    );
    if (countPrompt.length) this.submit([countPrompt]);
    await this.prefill(promptIds);
    const last = promptIds.length - 1;
    // step 0: the first token, sampled from the prompt's last position
    const readSlot = (step: number) => (enc: GPUCommandEncoder) => {
      enc.copyBufferToBuffer(this.sampler.state, 0, this.staging[step % IN_FLIGHT]!, 0, 8);
      enc.copyBufferToBuffer(
        this.sampler.logprobOut,
        (step % this.sampler.ring) * 4,
        this.staging[step % IN_FLIGHT]!,
        8,
        4,
      );
    };
    this.submit([
      (enc) => enc.copyBufferToBuffer(act.h, (last % act.chunk) * h * 4, act.hLast, 0, h * 4),
      [...this.graph.head(), ...this.sampler.sample()],
      readSlot(0),
    ]);
    let submitted = 1;
    const step1 = this.graph.decodeStep(this.sampler.state);
    const decode: ForwardPass = { ...step1, tail: [...step1.tail, ...this.sampler.sample()] };
    const queueStep = async (step: number) => {
      // the token sampled at step s-1 sits at position promptLen + s - 1
      this.device.queue.writeBuffer(act.pos, 0, Uint32Array.of(promptIds.length + step - 1, 0, 0, 0));
      await this.forward(decode, [], [readSlot(step)]);
      this.counters.decodeSteps++;
    };
    let firstTokenMs = 0;
    for (let step = 0; step < maxTokens; step++) {
      let h0 = performance.now();
      while (
        submitted < Math.min(maxTokens, step + IN_FLIGHT) &&
        promptIds.length + submitted - 1 < this.contextLength
      ) {
        await queueStep(submitted++);
      }
      const buf = this.staging[step % IN_FLIGHT]!;
      this.counters.loopHostMs += performance.now() - h0;
      await buf.mapAsync(GPUMapMode.READ);
      h0 = performance.now();
      const words = new Uint32Array(buf.getMappedRange().slice(0, 12));
      buf.unmap();
      if (step === 0) firstTokenMs = performance.now() - t0;
      const logprob = new Float32Array(words.buffer, 8, 1)[0]!;
      const done = stop.push(words[1]!, logprob);
      this.counters.loopHostMs += performance.now() - h0;
      if (done) break;
      if (o.signal?.aborted) {
        stop.abort();
        break;
      }
    }
    // let queued steps drain before the buffers are reused by the next request
    await this.device.queue.onSubmittedWorkDone();
    const total = performance.now() - t0;
    return stop.result(promptIds, {
      prefillMs: firstTokenMs,
      decodeMs: total - firstTokenMs,
      contextFull: promptIds.length + stop.ids.length >= this.contextLength + 1,
    });
  }

  destroy(): void {
    const w = this.graph.weights;
    const linears = new Set([w.embed, w.lmHead, ...w.layers.flatMap((l) => [l.qkv, l.o, l.gateUp, l.down])]);
    for (const l of linears) destroyLinear(l);
    w.streamer?.destroy();
    destroyKvCache(this.graph.kv);
    this.sampler.destroy();
  }
}
