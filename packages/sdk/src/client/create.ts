// createEngine: the browser entry. Checks WebGPU on the page, starts the module worker that runs the
// runtime, connects to it with Comlink and loads the model there. Errors reject createEngine typed
// (WebGPUUnavailable, ModelFileError, NetworkError, …), whichever side raised them.
import { WebGPUUnavailable } from "@wisp/runtime";
import { NO_WEBGPU } from "../backend/messages.ts";
import { InvalidRequestError } from "../errors.ts";
import type { LoadProgress, LoadRequest, Quant } from "../protocol.ts";
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
  /** Where wisp-worker.js is served, when not beside the SDK script (e.g. after a bundler moved files). */
  workerUrl?: string | URL;
}

export async function createEngine(options: CreateEngineOptions): Promise<WispEngine> {
  if (options === null || typeof options !== "object" || options.model === undefined) {
    throw new InvalidRequestError("createEngine needs { model }", "model");
  }
  if (!(globalThis.navigator as Navigator | undefined)?.gpu) throw new WebGPUUnavailable(NO_WEBGPU);
  const { spec, label } = resolveModel(options.model, globalThis.location?.href ?? "");
  const worker = spawnWorker(options.workerUrl);
  const connection = connectEndpoint(worker, { label });
  const request: LoadRequest = {
    model: spec,
    label,
    ...(options.quant ? { quant: options.quant } : {}),
    ...(options.contextLength ? { contextLength: options.contextLength } : {}),
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
  };
  return WispEngine.connect(connection, () => connection.api.load(request, options.onProgress));
}
