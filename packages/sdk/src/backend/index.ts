// @wisp/sdk/backend: the runtime in-thread. Node hosts (a Dawn device) and tests use the same
// OpenAI-style engine as the browser, without a worker.
import { activationsRequest, streamingRequest } from "../client/create.ts";
import { WispEngine } from "../client/engine.ts";
import type { Activations, LoadProgress, Quant } from "../protocol.ts";
import { inThreadConnection } from "../transport.ts";
import { type LocalBackendOptions, type LocalModelSpec, LocalWispBackend } from "./local.ts";

export { requestWispDevice } from "./device.ts";
export {
  type LocalBackendOptions,
  type LocalLoadRequest,
  type LocalModelSpec,
  LocalWispBackend,
} from "./local.ts";
export { NO_ADAPTER, NO_WEBGPU } from "./messages.ts";

export interface LocalEngineOptions extends LocalBackendOptions {
  model: LocalModelSpec;
  label?: string;
  quant?: Quant;
  contextLength?: number;
  /** Cache "url"/"hf" models in the weight store (`store`); default true when a store exists. */
  cache?: boolean;
  /** GPU memory budget in bytes; layers that do not fit stream from host memory (createEngine's). */
  gpuMemoryBudget?: number;
  /** GPU layer slots for streamed layers (default 2). */
  streamSlots?: number;
  /** Host memory for streamed layers (bytes); the rest are re-read from the store. Needs the cache. */
  hostMemoryBudget?: number;
  /** The decode GEMVs' activations with INT4 weights (createEngine's): "f32" (default) or "q8". */
  activations?: Activations;
  /** Aborts the load at the next request or tensor read: rejects with Aborted, nothing stays loaded. */
  signal?: AbortSignal;
  onProgress?: (progress: LoadProgress) => void;
}

/** An engine whose runtime runs on the calling thread (pass `device` in Node). */
export async function createLocalEngine(options: LocalEngineOptions): Promise<WispEngine> {
  const {
    model,
    label,
    quant,
    contextLength,
    cache,
    gpuMemoryBudget,
    streamSlots,
    hostMemoryBudget,
    activations,
    signal,
    onProgress,
    ...backendOptions
  } = options;
  const backend = new LocalWispBackend(backendOptions);
  const request = {
    model,
    ...(label ? { label } : {}),
    ...(quant ? { quant } : {}),
    ...(contextLength ? { contextLength } : {}),
    ...(cache !== undefined ? { cache } : {}),
    ...activationsRequest(activations),
    ...streamingRequest({
      ...(gpuMemoryBudget !== undefined ? { gpuMemoryBudget } : {}),
      ...(streamSlots !== undefined ? { streamSlots } : {}),
      ...(hostMemoryBudget !== undefined ? { hostMemoryBudget } : {}),
    }),
  };
  return WispEngine.connect(
    inThreadConnection(backend),
    () => backend.load(request, onProgress, signal),
    signal,
  );
}
