// WispWorkerApi implemented in-thread over @wisp/runtime's Engine. The worker serves one of these;
// Node code and tests use it directly with a device passed in. Requests are queued by the engine (one
// runs at a time); each has an AbortController keyed by its id so abort() reaches it from outside.
import {
  Aborted,
  DeviceLost,
  Engine,
  type FileSource,
  filesSource,
  hasIndexedDb,
  hfSource,
  ModelFileError,
  type ModelStore,
  openModelStore,
  readPackedMeta,
  urlSource,
  WispError,
} from "@wisp/runtime";
import { cachedModelSource } from "../cache/source.ts";
import type {
  BatchCallback,
  ChatGenerationRequest,
  DeviceProbe,
  EngineStats,
  GenerationOutcome,
  GenerationParams,
  LoadRequest,
  ModelInfo,
  ModelSpec,
  ProbeProgressCallback,
  ProbeRequest,
  ProgressCallback,
  TextGenerationRequest,
  WispWorkerApi,
} from "../protocol.ts";
import { BatchPump } from "./batch.ts";
import { type AcquiredGpu, requestWispDevice } from "./device.ts";
import { kernelLoadOptions, probe } from "./probe.ts";

/** In-thread only (not cloneable): any FileSource as well, e.g. folderSource() from @wisp/runtime/node. */
export type LocalModelSpec =
  | ModelSpec
  | { kind: "source"; source: FileSource; ggufFile?: string; label?: string };

export interface LocalLoadRequest extends Omit<LoadRequest, "model"> {
  model: LocalModelSpec;
}

export interface LocalBackendOptions {
  /** Use this device (Node: from Dawn). Default: request one from `gpu` with the adapter's real limits. */
  device?: GPUDevice;
  /** Default: navigator.gpu of the current global (window or worker). */
  gpu?: GPU;
  /** Progress events closer together than this are dropped, except phase changes and the last one. */
  progressIntervalMs?: number;
  /**
   * The weight store "url" and "hf" models are cached in (LoadRequest.cache). Default: the browser's
   * IndexedDB store where IndexedDB exists (page and worker share it), else none (Node hosts pass
   * openFileModelStore() from @wisp/runtime/node). `false`: never cache.
   */
  store?: ModelStore | false;
}

function sourceOf(
  spec: LocalModelSpec,
  signal: AbortSignal | undefined,
): { source: FileSource; ggufFile?: string; label: string } {
  switch (spec.kind) {
    case "url":
      return {
        source: urlSource(spec.url, {
          ...(spec.files ? { files: spec.files } : {}),
          ...(signal ? { signal } : {}),
        }),
        ...(spec.ggufFile ? { ggufFile: spec.ggufFile } : {}),
        label: spec.url,
      };
    case "hf":
      return {
        source: hfSource(spec.id, {
          ...(spec.revision ? { revision: spec.revision } : {}),
          ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
          ...(signal ? { signal } : {}),
        }),
        label: spec.id,
      };
    case "files":
      return {
        source: filesSource(spec.files),
        ...(spec.ggufFile ? { ggufFile: spec.ggufFile } : {}),
        label: "local files",
      };
    case "source":
      return {
        source: spec.source,
        ...(spec.ggufFile ? { ggufFile: spec.ggufFile } : {}),
        label: spec.label ?? "source",
      };
  }
}

const loadAborted = () => new Aborted("the model load was aborted");

/**
 * `source` that stops at the next file access once `signal` fires: weights are read tensor by tensor
 * while they are quantized, so an abort ends the load within one tensor (the network requests of a
 * "url"/"hf" source are cancelled by the signal itself).
 */
function abortableSource(source: FileSource, signal: AbortSignal | undefined): FileSource {
  if (!signal) return source;
  const check = <T>(v: T): T => {
    if (signal.aborted) throw loadAborted();
    return v;
  };
  return {
    list: async () => check(await check(source).list()),
    size: async (name) => check(await check(source).size(name)),
    read: async (name, start, end) => check(await check(source).read(name, start, end)),
  };
}

const throttle = (send: ProgressCallback | undefined, intervalMs: number) => {
  let last = -Infinity;
  let phase = "";
  return (p: { phase: string; loaded: number; total: number; fraction: number }) => {
    const now = performance.now();
    if (p.phase === phase && p.loaded < p.total && now - last < intervalMs) return;
    last = now;
    phase = p.phase;
    // Fire and forget: across the worker this is a message; loading must not wait for the page, and
    // a page that stopped listening must not fail the load.
    try {
      Promise.resolve(send?.({ ...p })).catch(() => {});
    } catch {}
  };
};

export class LocalWispBackend implements WispWorkerApi {
  private gpu: AcquiredGpu | undefined;
  private engine: Engine | undefined;
  private info: ModelInfo | undefined;
  private lost: WispError | undefined;
  private readonly running = new Map<string, { controller: AbortController; done: Promise<unknown> }>();
  private served = 0;
  private last: GenerationOutcome | undefined;
  private modelStore: ModelStore | undefined;

  constructor(private readonly options: LocalBackendOptions = {}) {}

  private store(): ModelStore | undefined {
    if (this.options.store === false) return undefined;
    if (this.options.store) return this.options.store;
    if (!this.modelStore && hasIndexedDb()) this.modelStore = openModelStore();
    return this.modelStore;
  }

  private async device(): Promise<GPUDevice> {
    if (this.options.device) return this.options.device;
    if (!this.gpu || this.lost) {
      const gpu = this.options.gpu ?? (globalThis.navigator as Navigator | undefined)?.gpu;
      this.gpu = await requestWispDevice(gpu);
      this.lost = undefined;
      this.gpu.device.lost.then((info) => {
        if (info.reason !== "destroyed") {
          this.lost = new DeviceLost(`the GPU device was lost: ${info.message || "no reason given"}`);
        }
      });
    }
    return this.gpu.device;
  }

  /**
   * Loads the model (unloading the previous one). `signal` (in-thread only: it cannot cross the worker,
   * where the page terminates the worker instead) stops the download and quantization at the next
   * request or tensor read and rejects with Aborted.
   */
  async load(
    request: LocalLoadRequest,
    onProgress?: ProgressCallback,
    signal?: AbortSignal,
  ): Promise<ModelInfo> {
    await this.unload();
    if (signal?.aborted) throw loadAborted();
    const t0 = performance.now();
    const device = await this.device();
    const { source: remote, ggufFile, label } = sourceOf(request.model, signal);
    const progress = throttle(onProgress, this.options.progressIntervalMs ?? 50);
    // "url" and "hf" models go through the weight store: downloaded once (resumable, verified), then
    // read from it; a second load makes no request for the model's files.
    const store = request.cache === false ? undefined : this.store();
    const spec = request.model;
    const cached =
      store && spec.kind !== "source"
        ? await cachedModelSource(store, spec, {
            label: request.label ?? label,
            packedUsable: async (p) =>
              (await readPackedMeta(device, p, request.quant ?? "int4")) !== undefined,
            onProgress: progress,
            ...(signal ? { signal } : {}),
          })
        : undefined;
    const engine = await Engine.load(device, abortableSource(cached?.source ?? remote, signal), {
      ...(request.quant ? { quant: request.quant } : {}),
      ...(request.contextLength ? { contextLength: request.contextLength } : {}),
      ...(request.gpuMemoryBudget !== undefined ? { gpuMemoryBudget: request.gpuMemoryBudget } : {}),
      ...(request.streamSlots !== undefined ? { streamSlots: request.streamSlots } : {}),
      ...(request.hostMemoryBudget !== undefined && cached
        ? { hostMemoryBudget: request.hostMemoryBudget }
        : {}),
      ...(ggufFile ? { ggufFile } : {}),
      ...(cached ? { packed: cached.packed } : {}),
      ...kernelLoadOptions(request),
      // Reading tensors from the store is not a download: reported as "read" so that "download"
      // (bytes over the network, once) does not start again from zero.
      onProgress: cached ? (p) => progress(p.phase === "download" ? { ...p, phase: "read" } : p) : progress,
    });
    if (!engine.tokenizer) {
      engine.destroy();
      throw new ModelFileError("the model has no tokenizer.json; the SDK needs one to encode prompts", {
        kind: "missing_file",
        file: "tokenizer.json",
      });
    }
    try {
      if (signal?.aborted) throw loadAborted();
      await cached?.commit();
    } catch (e) {
      engine.destroy();
      throw e;
    }
    this.engine = engine;
    const streaming = engine.streamStats;
    this.info = {
      model: request.label ?? label,
      architecture: engine.config.architecture,
      vocabSize: engine.config.vocabSize,
      contextLength: engine.contextLength,
      quant: engine.quant,
      hasChatTemplate: engine.tokenizer.chatTemplate !== undefined,
      loadMs: performance.now() - t0,
      adapter: this.gpu?.description ?? "device given by the host",
      memory: { ...engine.memory },
      ...(streaming
        ? {
            streaming: {
              residentLayers: streaming.residentLayers,
              streamedLayers: streaming.streamedLayers,
              slots: streaming.slots,
              bytesPerPass: streaming.bytesPerPass,
            },
          }
        : {}),
    };
    return this.info;
  }

  async unload(): Promise<void> {
    const engine = this.engine;
    if (!engine) return;
    this.engine = undefined;
    this.info = undefined;
    for (const r of this.running.values()) r.controller.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    engine.destroy();
  }

  chatCompletion(request: ChatGenerationRequest, onChunk: BatchCallback): Promise<GenerationOutcome> {
    return this.generate(
      request.requestId,
      (engine) => engine.tokenizer!.encodeChat(request.messages, { addGenerationPrompt: true }),
      request.params,
      onChunk,
    );
  }

  completion(request: TextGenerationRequest, onChunk: BatchCallback): Promise<GenerationOutcome> {
    const { prompt } = request;
    return this.generate(
      request.requestId,
      (engine) => (typeof prompt === "string" ? engine.tokenizer!.encode(prompt) : prompt),
      request.params,
      onChunk,
    );
  }

  async abort(requestId: string): Promise<void> {
    this.running.get(requestId)?.controller.abort();
  }

  async stats(): Promise<EngineStats> {
    return {
      loaded: this.engine !== undefined,
      ...(this.info ? { model: this.info } : {}),
      activeRequests: this.running.size,
      requestsServed: this.served,
      ...(this.last ? { lastRequest: this.last } : {}),
      // A copy: the engine keeps counting into its own object.
      ...(this.engine?.streamStats ? { streaming: { ...this.engine.streamStats } } : {}),
    };
  }

  /**
   * Times this device on a model's shapes with random weights (the runtime's probeModel): nothing is
   * downloaded but config.json when only `request.model` is given; a loaded model is left alone.
   * `signal` (in-thread only; across the worker probeDevice() ends the worker) stops it within a
   * decode step with Aborted.
   */
  async probe(
    request: ProbeRequest,
    onProgress?: ProbeProgressCallback,
    signal?: AbortSignal,
  ): Promise<DeviceProbe> {
    const device = await this.device();
    const adapter = this.gpu?.description ?? "device given by the host";
    return probe(device, adapter, request, onProgress, signal);
  }

  private generate(
    requestId: string,
    encode: (engine: Engine) => number[],
    params: GenerationParams,
    onChunk: BatchCallback,
  ): Promise<GenerationOutcome> {
    if (this.lost) return Promise.reject(this.lost);
    const engine = this.engine;
    if (!engine) return Promise.reject(new WispError("no model is loaded"));
    if (this.running.has(requestId)) {
      return Promise.reject(new WispError(`request id "${requestId}" is already in use`));
    }
    // Registered synchronously, so an abort() sent right after the request always finds it.
    const controller = new AbortController();
    const done = this.run(engine, requestId, encode, params, onChunk, controller.signal);
    this.running.set(requestId, { controller, done });
    return done.finally(() => this.running.delete(requestId));
  }

  private async run(
    engine: Engine,
    requestId: string,
    encode: (engine: Engine) => number[],
    params: GenerationParams,
    onChunk: BatchCallback,
    signal: AbortSignal,
  ): Promise<GenerationOutcome> {
    const promptIds = encode(engine);
    const pump = new BatchPump(onChunk);
    let tokensAfterAbort = 0;
    let outcome: GenerationOutcome;
    try {
      const r = await engine.generate(promptIds, {
        maxTokens: params.maxTokens,
        temperature: params.temperature,
        topP: params.topP,
        topK: params.topK,
        minP: params.minP,
        repetitionPenalty: params.repetitionPenalty,
        frequencyPenalty: params.frequencyPenalty,
        presencePenalty: params.presencePenalty,
        ...(params.seed !== undefined ? { seed: params.seed } : {}),
        stop: params.stop,
        signal,
        onToken: (t) => {
          if (signal.aborted) tokensAfterAbort++;
          pump.push(t.id, t.text, t.logprob);
        },
      });
      outcome = {
        requestId,
        text: r.text,
        finishReason: r.finishReason,
        promptTokens: r.usage.promptTokens,
        completionTokens: r.usage.completionTokens,
        timings: r.timings,
        tokensAfterAbort,
      };
    } catch (e) {
      // Aborted while still queued behind another request: an empty answer, not an error.
      if (!(e instanceof Aborted && signal.aborted)) throw this.lost ?? e;
      outcome = {
        requestId,
        text: "",
        finishReason: "abort",
        promptTokens: promptIds.length,
        completionTokens: 0,
        timings: { prefillMs: 0, decodeMs: 0, prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 },
        tokensAfterAbort: 0,
      };
    }
    await pump.drain();
    this.served++;
    this.last = outcome;
    return outcome;
  }
}
