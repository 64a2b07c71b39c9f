// probeDevice: "can my device run it?" before a download. Starts its own module worker (a loaded
// engine's worker is left alone), runs the runtime's probe there on the model's shapes with random
// weights, and ends the worker: an abort terminates it at once, freeing its GPU memory.
import { Aborted, WebGPUUnavailable } from "@wisp/runtime";
import { NO_WEBGPU } from "../backend/messages.ts";
import { InvalidRequestError } from "../errors.ts";
import type { Activations, DeviceProbe, ProbeProgress, ProbeRequest } from "../protocol.ts";
import { connectEndpoint } from "../transport.ts";
import { activationsRequest } from "./create.ts";
import { type ModelInput, resolveModel } from "./model.ts";
import { spawnWorker } from "./spawn.ts";

export interface ProbeDeviceOptions {
  /** The model's config.json object (hidden_size, num_hidden_layers, …): nothing is fetched… */
  config?: Record<string, unknown>;
  /** …or the model (hub id, folder URL, files) to read config.json from: that file only, no weights. */
  model?: ModelInput;
  /** The KV cache the model would be loaded with (default: its maximum, at most 4096). */
  contextLength?: number;
  /** Time spent timing decode steps, ms (default 3000); building the small engines comes on top. */
  budgetMs?: number;
  /** GPU memory the model may use, bytes (default: an assumption; see DeviceProbe.budgetSource). */
  gpuMemoryBudget?: number;
  /** Streaming slots a plan assumes (default 2). */
  streamSlots?: number;
  /** Autotune the decode kernels first, as createEngine with `tune` does (default false; choices cached). */
  tune?: boolean;
  /** Time the decode kernels that createEngine with these `activations` will run (default "f32"). */
  activations?: Activations;
  onProgress?: (progress: ProbeProgress) => void;
  /** Ends the probe at once (its worker is terminated); probeDevice rejects with Aborted. */
  signal?: AbortSignal;
  /** Where wisp-worker.js is served, when not beside the SDK script. */
  workerUrl?: string | URL;
}

const positive = (v: number | undefined, param: string, integer = false) => {
  if (v === undefined) return;
  if (!(Number.isFinite(v) && v > 0 && (!integer || Number.isSafeInteger(v)))) {
    throw new InvalidRequestError(
      `${param} must be a positive ${integer ? "whole number" : "number"}, got ${v}`,
      param,
    );
  }
};

/** The request probeDevice sends (InvalidRequestError for a malformed option). */
export function probeRequest(options: ProbeDeviceOptions, base: string): ProbeRequest {
  if (options === null || typeof options !== "object") {
    throw new InvalidRequestError("probeDevice needs { config } or { model }", "config");
  }
  const { config, model } = options;
  if ((config === undefined) === (model === undefined)) {
    throw new InvalidRequestError("probeDevice needs exactly one of { config } and { model }", "config");
  }
  if (config !== undefined && (config === null || typeof config !== "object" || Array.isArray(config))) {
    throw new InvalidRequestError("config must be a config.json object", "config");
  }
  positive(options.contextLength, "contextLength", true);
  positive(options.budgetMs, "budgetMs");
  positive(options.gpuMemoryBudget, "gpuMemoryBudget", true);
  positive(options.streamSlots, "streamSlots", true);
  return {
    ...(config ? { config } : { model: resolveModel(model!, base).spec }),
    ...(options.contextLength !== undefined ? { contextLength: options.contextLength } : {}),
    ...(options.budgetMs !== undefined ? { budgetMs: options.budgetMs } : {}),
    ...(options.gpuMemoryBudget !== undefined ? { gpuMemoryBudget: options.gpuMemoryBudget } : {}),
    ...(options.streamSlots !== undefined ? { streamSlots: options.streamSlots } : {}),
    ...(options.tune !== undefined ? { tune: options.tune } : {}),
    ...activationsRequest(options.activations),
  };
}

/**
 * Estimates how fast a model decodes on this device and whether it fits, before downloading it: a few
 * seconds of the real kernels at the model's shapes on random weights. Rejects with the runtime's
 * typed errors (WebGPUUnavailable, UnsupportedArchitecture for a config Wisp cannot run, Aborted).
 */
export async function probeDevice(options: ProbeDeviceOptions): Promise<DeviceProbe> {
  const request = probeRequest(options, globalThis.location?.href ?? "");
  if (!(globalThis.navigator as Navigator | undefined)?.gpu) throw new WebGPUUnavailable(NO_WEBGPU);
  const signal = options.signal;
  if (signal?.aborted) throw new Aborted("the device probe was aborted");
  const connection = connectEndpoint(spawnWorker(options.workerUrl), { label: "device probe" });
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Aborted("the device probe was aborted"));
  });
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([connection.api.probe(request, options.onProgress), aborted]);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    connection.close();
  }
}
