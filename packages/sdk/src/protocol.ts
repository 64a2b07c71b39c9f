// The worker boundary: only types. One narrow interface, `WispWorkerApi`, implemented in-thread by
// LocalWispBackend (Node, tests) and proxied through Comlink from the module worker the SDK creates.
// Everything here is structured-cloneable except where a comment says "in-thread only". Callbacks are
// passed with Comlink.proxy across the worker; a token stream is ONE callback per request that
// receives batches, so the token loop never waits for a round trip to the main thread.
//
// Cache operations (list/delete cached models) are not part of this interface: the page reads the same
// IndexedDB as the worker (same origin), so listCachedModels() & co. run on the main thread.

// Kept free of runtime imports so the public declarations stand alone (the same unions as the runtime's).
/**
 * The decode matrix products' input with INT4 weights: "f32" (default) as is; "q8" rounded to 8 bits
 * per block of 32 values, with integer dot products (faster decode; close to, not the same as, f32).
 */
export type Activations = "f32" | "q8";

/** Weight storage: INT4 (quantized on the GPU at load) or unquantized f32. */
export type Quant = "int4" | "f32";
/** "abort": the request's signal fired (or the engine was unloaded) before it finished. */
export type FinishReason = "stop" | "length" | "abort";

/** Where the model comes from, resolved on the main thread (URLs are absolute). */
export type ModelSpec =
  | { kind: "url"; url: string; files?: string[]; ggufFile?: string }
  | { kind: "hf"; id: string; revision?: string; endpoint?: string }
  | { kind: "files"; files: File[]; ggufFile?: string };

export interface LoadRequest {
  model: ModelSpec;
  /** How responses name the model (default: the URL, hub id or "local files"). */
  label?: string;
  /** Weight storage: "int4" (default, quantized on the GPU at load) or "f32". */
  quant?: Quant;
  /** KV cache size in tokens (default min(model maximum, 4096)). */
  contextLength?: number;
  /**
   * Keep the model's files in the weight store (IndexedDB) and load from there next time: "url" and
   * "hf" models only. Default: true where IndexedDB exists.
   */
  cache?: boolean;
  /**
   * GPU memory budget in bytes for weights, KV cache and activations. When the model does not fit,
   * the first layers that fit stay on the GPU and the rest stream from host memory every forward
   * pass (same output, slower). Default: no budget (every layer resident).
   */
  gpuMemoryBudget?: number;
  /** GPU layer slots the streamed layers run from (default 2); only with gpuMemoryBudget. */
  streamSlots?: number;
  /** Host memory for streamed layers (bytes); the rest are re-read from the weight store. Needs the cache. */
  hostMemoryBudget?: number;
  /**
   * Autotune the decode kernels on this GPU at load (at most 2 s, once: the choices are kept in
   * IndexedDB by adapter and shape; the output is the same either way). Default: false (its picks,
   * timed kernel by kernel, never made the decode step faster on an H200; ARCHITECTURE.md).
   */
  tune?: boolean;
  /** The decode GEMVs' activations with INT4 weights (see CreateEngineOptions.activations). */
  activations?: Activations;
}

/** A model in the weight store, as listCachedModels() reports it. */
export interface CachedModel {
  /** The store key: the model folder's URL (or the .gguf URL), or the hub id ("org/name", "@revision" when not main). */
  id: string;
  label?: string;
  /** Bytes stored for it (complete files, partial downloads, derived blobs). */
  bytes: number;
  /** False while a download is partial (it resumes on the next load). */
  complete: boolean;
  /** Names of the complete files. */
  files: string[];
  /** Derived artefacts (e.g. packed INT4 weights). */
  blobs: string[];
  /** Milliseconds since the epoch. */
  updatedAt: number;
  /** The store's schema version it was written with. */
  schema: number;
}

/** navigator.storage.estimate() for this origin, plus what is left. */
export interface StorageEstimate {
  usage: number;
  quota: number;
  available: number;
  /** Whether the browser granted persistent storage (not evicted under pressure). */
  persisted?: boolean;
}

export interface LoadProgress {
  /**
   * "download": bytes fetched over the network (into the weight store when the model is cached);
   * "read": bytes read back from the weight store (a cached model); "quantize" while weights are
   * packed; "compile" while pipelines are built; "warmup".
   */
  phase: string;
  loaded: number;
  total: number;
  /** 0..1 within the phase. */
  fraction: number;
}

export interface ModelInfo {
  /** What the caller named (hub id, URL, or "local files"). */
  model: string;
  architecture: string;
  vocabSize: number;
  contextLength: number;
  quant: Quant;
  /** False when the tokenizer ships no chat template and the documented fallback renders chats. */
  hasChatTemplate: boolean;
  loadMs: number;
  adapter: string;
  /** GPU memory as planned at load, in bytes. */
  memory: ModelMemory;
  /** Present when gpuMemoryBudget made some layers stream from host memory. */
  streaming?: StreamingInfo;
}

export interface ModelMemory {
  /** One transformer layer's weights. */
  perLayerBytes: number;
  /** Embedding and lm_head, KV cache, activations. */
  fixedBytes: number;
  /** The whole model resident. */
  totalBytes: number;
  /** What this load holds: fixed + resident layers + streaming slots. */
  residentBytes: number;
}

export interface StreamingInfo {
  /** The first layers, kept on the GPU. */
  residentLayers: number;
  /** The other layers, uploaded from host memory into a slot every forward pass. */
  streamedLayers: number;
  slots: number;
  /** Bytes uploaded per forward pass (each streamed layer once). */
  bytesPerPass: number;
}

/** Weight streaming counters since load (EngineStats.streaming). */
export interface StreamingStats extends StreamingInfo {
  /** One layer's bytes as uploaded. */
  layerBytes: number;
  bytesStreamed: number;
  layersUploaded: number;
  /** Host time spent in queue.writeBuffer for the uploads. */
  uploadHostMs: number;
}

/** Sampling and stopping, already validated and defaulted by the SDK (openai/request.ts). */
export interface GenerationParams {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  repetitionPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  /** u32; absent → random. */
  seed?: number;
  stop: string[];
}

/** One chat turn as the template sees it (content already flattened to text). */
export interface WireMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatGenerationRequest {
  requestId: string;
  messages: WireMessage[];
  params: GenerationParams;
}

export interface TextGenerationRequest {
  requestId: string;
  /** Raw text (tokenized with the model's special tokens, e.g. BOS) or token ids used as they are. */
  prompt: string | number[];
  params: GenerationParams;
}

/** Tokens generated since the previous batch, struct-of-arrays (cheap to clone). */
export interface TokenBatch {
  ids: number[];
  /** The text each token completed (may be "" while a multi-byte character or a possible stop string is held). */
  text: string[];
  /** Natural-log probability of each chosen token under the sampling distribution. */
  logprobs: number[];
}

export interface GenerationTimings {
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface GenerationOutcome {
  requestId: string;
  /** The whole generated text; the batches' text concatenated is a prefix of it (a held tail may follow). */
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  timings: GenerationTimings;
  /** Tokens the engine produced after the worker saw the abort (0 or 1: it stops within one token). */
  tokensAfterAbort: number;
}

export interface EngineStats {
  loaded: boolean;
  model?: ModelInfo;
  /** Requests running or queued now. */
  activeRequests: number;
  requestsServed: number;
  lastRequest?: GenerationOutcome;
  /** Live weight streaming counters, when the model streams (see ModelInfo.streaming). */
  streaming?: StreamingStats;
}

/** What probeDevice() asks the worker to measure: a model's shapes, not its weights. */
export interface ProbeRequest {
  /** The model's config.json as on the hub (hidden_size, num_hidden_layers, vocab_size, …)… */
  config?: Record<string, unknown>;
  /** …or where to read it: only config.json (and a hub listing) is fetched, never weights. */
  model?: ModelSpec;
  /** KV cache size the model would be loaded with (default: the model's maximum, at most 4096). */
  contextLength?: number;
  /** Time spent timing decode steps, ms (default 3000); building the small engines comes on top. */
  budgetMs?: number;
  /** GPU memory the model may use, bytes (default: an assumption, see DeviceProbe.budgetSource). */
  gpuMemoryBudget?: number;
  /** Streaming slots a plan assumes (default 2). */
  streamSlots?: number;
  /** Autotune the decode kernels first, as a load with `tune` does (default false; choices cached). */
  tune?: boolean;
  /** Time the decode kernels the load will run with these activations (default "f32"). */
  activations?: Activations;
}

export interface ProbeProgress {
  /** "config": reading config.json; "layout": the memory plan; "build": random weights and a small engine; "measure": decode steps. */
  phase: "config" | "layout" | "build" | "measure" | "done";
  /** 0..1 of the whole probe. */
  fraction: number;
}

/**
 * What probeDevice() found (the runtime's ProbeResult, see packages/runtime/src/probe.ts for the
 * method): an estimated decode speed of the whole model on this device and whether it fits.
 */
export interface DeviceProbe {
  /** Estimated decode tokens/s of the whole model (streaming uploads included when the plan streams); null when a limit ruled it out before anything ran. */
  decodeTokS: number | null;
  msPerToken: number | null;
  /** Layer counts of the small engines that were timed, e.g. [1, 3]: the rest is extrapolated. */
  layersMeasured: number[];
  measured: Array<{ layers: number; tokens: number; msPerToken: number }>;
  /** How decodeTokS was obtained, in one sentence. */
  method: string;
  /** The whole model stays on the GPU within the memory budget and every limit. */
  fits: boolean;
  /** "fits"; "streaming": runs with some layers streamed from memory every token (slower); "too-large": cannot run here. */
  verdict: "fits" | "streaming" | "too-large";
  /** One sentence: why. */
  reason: string;
  weightBytes: number;
  kvBytes: number;
  activationBytes: number;
  totalBytes: number;
  contextLength: number;
  gpuMemoryBudget: number;
  /** "given"; "device-memory": half of navigator.deviceMemory; "assumed": 2 GiB (WebGPU does not tell). */
  budgetSource: "given" | "device-memory" | "assumed";
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  /** Present when the model needs weight streaming under the budget: what a load with it would do. */
  plan?: {
    residentLayers: number;
    streamedLayers: number;
    slots: number;
    bytesPerPass: number;
    residentBytes: number;
    uploadMsPerToken?: number;
  };
  buildMs: number;
  measureMs: number;
  elapsedMs: number;
  /** The model's architecture as config.json names it. */
  architecture: string;
  /** The GPU that was measured. */
  adapter: string;
}

export type BatchCallback = (batch: TokenBatch) => void | Promise<void>;
export type ProgressCallback = (progress: LoadProgress) => void | Promise<void>;
export type ProbeProgressCallback = (progress: ProbeProgress) => void | Promise<void>;

export interface WispWorkerApi {
  load(request: LoadRequest, onProgress?: ProgressCallback): Promise<ModelInfo>;
  unload(): Promise<void>;
  chatCompletion(request: ChatGenerationRequest, onChunk: BatchCallback): Promise<GenerationOutcome>;
  completion(request: TextGenerationRequest, onChunk: BatchCallback): Promise<GenerationOutcome>;
  /** Stops a running request (within one token) or drops a queued one; unknown ids are ignored. */
  abort(requestId: string): Promise<void>;
  stats(): Promise<EngineStats>;
  /**
   * Measures this device on a model's shapes with random weights (no download; the loaded model, if
   * any, is left alone). Across the worker, probeDevice() gives each probe its own worker and ends it
   * to abort.
   */
  probe(request: ProbeRequest, onProgress?: ProbeProgressCallback): Promise<DeviceProbe>;
}
