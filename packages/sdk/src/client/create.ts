// createEngine: the browser entry. Checks WebGPU on the page, starts the module worker that runs the
// runtime, connects to it with Comlink and loads the model there. Errors reject createEngine typed
// (WebGPUUnavailable, ModelFileError, NetworkError, …), whichever side raised them.
import { Aborted, WebGPUUnavailable } from "@wisp/runtime";
import { NO_WEBGPU } from "../backend/messages.ts";
import { InvalidRequestError } from "../errors.ts";
import type { Activations, LoadProgress, LoadRequest, Quant } from "../protocol.ts";
import { connectEndpoint } from "../transport.ts";
import { WispEngine } from "./engine.ts";
import { type ModelInput, resolveModel } from "./model.ts";
import { spawnWorker } from "./spawn.ts";

export interface CreateEngineOptions {
  /** A Hugging Face id ("HuggingFaceTB/SmolLM2-135M-Instruct"), a model folder's base URL, a .gguf URL, or picked files. */
  model: ModelInput;
  /** "int4" (default: weights quantized on the GPU at load) or "f32". */
  quant?: Quant;
  /** KV cache size in tokens (default: the model's maximum, at most 4096). */
  contextLength?: number;
  /** Load progress: phase ("download" bytes, "quantize" layers, "compile", "warmup"), loaded/total, fraction 0..1. */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Keep "url"/"hf" models in the browser's weight store (IndexedDB): downloaded once (resumable,
   * verified), loaded from there afterwards. Default true where IndexedDB exists.
   */
  cache?: boolean;
  /**
   * GPU memory budget in bytes for weights, KV cache and activations. A model that does not fit keeps
   * its first layers on the GPU and streams the rest from host memory every forward pass (the same
   * output, slower); `engine.model.streaming` says how many. Default: no budget (all resident).
   */
  gpuMemoryBudget?: number;
  /** GPU layer slots streamed layers run from (default 2); only with gpuMemoryBudget. */
  streamSlots?: number;
  /**
   * Host memory for streamed layers (bytes). Default: all of them stay in memory. Bounded, the layers
   * that do not fit are re-read from the weight store (IndexedDB) when a pass needs them; needs the
   * cache (a "url" or hub model with `cache` on).
   */
  hostMemoryBudget?: number;
  /**
   * Autotune the decode kernels on this GPU at load (at most 2 s, the first time: the choices are kept
   * in IndexedDB by adapter and shape; the output is the same either way). Default: false (its
   * picks, timed kernel by kernel, never made the decode step faster on an H200; ARCHITECTURE.md).
   */
  tune?: boolean;
  /**
   * With INT4 weights, the decode matrix products' input: "f32" (default) as is, or "q8": rounded to
   * 8 bits per block of 32 values (as llama.cpp's Q8_0) and multiplied with integer dot products, four
   * products per instruction. Decode steps measured 14-19% shorter on an H200 (Llama-3.2-1B and
   * Llama-3.1-8B shapes); the output is close to f32's but not the same. Prefill is unchanged.
   */
  activations?: Activations;
  /**
   * Aborts the load: the worker is terminated at once (download, quantization and GPU memory end
   * with it) and createEngine rejects with `Aborted`.
   */
  signal?: AbortSignal;
  /** Where wisp-worker.js is served, when not beside the SDK script (e.g. after a bundler moved files). */
  workerUrl?: string | URL;
}

/** Checks `activations` (InvalidRequestError) and returns it for a LoadRequest or ProbeRequest. */
export function activationsRequest(activations: unknown): { activations?: Activations } {
  if (activations === undefined) return {};
  if (activations !== "f32" && activations !== "q8") {
    throw new InvalidRequestError(
      `activations must be "f32" or "q8", got ${JSON.stringify(activations)}`,
      "activations",
    );
  }
  return { activations };
}

/** Checks gpuMemoryBudget / streamSlots (InvalidRequestError) and returns them for the LoadRequest. */
export function streamingRequest(options: {
  gpuMemoryBudget?: number;
  streamSlots?: number;
  hostMemoryBudget?: number;
}): Pick<LoadRequest, "gpuMemoryBudget" | "streamSlots" | "hostMemoryBudget"> {
  const { gpuMemoryBudget: budget, streamSlots: slots, hostMemoryBudget: host } = options;
  if (host !== undefined && !(Number.isSafeInteger(host) && host > 0)) {
    throw new InvalidRequestError(
      `hostMemoryBudget must be a positive whole number of bytes, got ${host}`,
      "hostMemoryBudget",
    );
  }
  if (budget !== undefined && !(Number.isSafeInteger(budget) && budget > 0)) {
    throw new InvalidRequestError(
      `gpuMemoryBudget must be a positive whole number of bytes, got ${budget}`,
      "gpuMemoryBudget",
    );
  }
  if (slots !== undefined && !(Number.isSafeInteger(slots) && slots >= 1)) {
    throw new InvalidRequestError(`streamSlots must be a positive integer, got ${slots}`, "streamSlots");
  }
  return {
    ...(budget !== undefined ? { gpuMemoryBudget: budget } : {}),
    ...(slots !== undefined ? { streamSlots: slots } : {}),
    ...(host !== undefined ? { hostMemoryBudget: host } : {}),
  };
}

export async function createEngine(options: CreateEngineOptions): Promise<WispEngine> {
  if (options === null || typeof options !== "object" || options.model === undefined) {
    throw new InvalidRequestError("createEngine needs { model }", "model");
  }
  if (!(globalThis.navigator as Navigator | undefined)?.gpu) throw new WebGPUUnavailable(NO_WEBGPU);
  const { spec, label } = resolveModel(options.model, globalThis.location?.href ?? "");
  const request: LoadRequest = {
    model: spec,
    label,
    ...(options.quant ? { quant: options.quant } : {}),
    ...(options.contextLength ? { contextLength: options.contextLength } : {}),
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
    ...(options.tune !== undefined ? { tune: options.tune } : {}),
    ...activationsRequest(options.activations),
    ...streamingRequest(options),
  };
  if (options.signal?.aborted) throw new Aborted("the model load was aborted");
  const worker = spawnWorker(options.workerUrl);
  const connection = connectEndpoint(worker, { label });
  return WispEngine.connect(
    connection,
    () => connection.api.load(request, options.onProgress),
    options.signal,
  );
}
