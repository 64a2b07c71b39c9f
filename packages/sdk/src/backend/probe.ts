// The worker side of probeDevice(): a model's config (given, or read from config.json alone — never a
// weight file) → the runtime's probeModel on this backend's device. Progress goes out as fire-and-forget
// messages, at most one every 100 ms per phase, so a fast GPU's thousands of steps do not flood the page.
import {
  Aborted,
  filesSource,
  hasIndexedDb,
  hfSource,
  indexedDbTuneCache,
  loadConfig,
  type ModelConfig,
  parseConfig,
  probeModel,
  urlSource,
  WispError,
} from "@wisp/runtime";
import type {
  Activations,
  DeviceProbe,
  ProbeProgress,
  ProbeProgressCallback,
  ProbeRequest,
} from "../protocol.ts";

const PROGRESS_INTERVAL_MS = 100;

/**
 * The kernel choices a load and a probe share: autotuning (only with `tune: true`, its choices kept in
 * IndexedDB where there is one) and the decode GEMVs' activations.
 */
export function kernelLoadOptions(request: { tune?: boolean; activations?: Activations }) {
  return {
    ...(request.tune === true ? { tune: hasIndexedDb() ? { cache: indexedDbTuneCache() } : {} } : {}),
    ...(request.activations ? { activations: request.activations } : {}),
  };
}

/** config.json of the request: given, or read from the model's place (only that file). */
async function probeConfig(request: ProbeRequest, signal: AbortSignal | undefined): Promise<ModelConfig> {
  if (request.config) return parseConfig(request.config);
  const spec = request.model;
  if (!spec) throw new WispError("probe needs a model's config or where to read its config.json");
  if ("ggufFile" in spec && spec.ggufFile) {
    throw new WispError("probe reads config.json; for a GGUF file, pass the model's config instead");
  }
  const opts = signal ? { signal } : {};
  const source =
    spec.kind === "url"
      ? // A plain server cannot list a folder: name the one file, so nothing else is even asked for.
        urlSource(spec.url, { files: ["config.json"], ...opts })
      : spec.kind === "hf"
        ? hfSource(spec.id, {
            ...(spec.revision ? { revision: spec.revision } : {}),
            ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
            ...opts,
          })
        : filesSource(spec.files);
  return loadConfig(source);
}

export async function probe(
  device: GPUDevice,
  adapter: string,
  request: ProbeRequest,
  onProgress?: ProbeProgressCallback,
  signal?: AbortSignal,
): Promise<DeviceProbe> {
  if (signal?.aborted) throw new Aborted("the device probe was aborted");
  let last = -Infinity;
  let phase = "";
  const send = (p: ProbeProgress) => {
    const now = performance.now();
    if (p.phase === phase && p.fraction < 1 && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    phase = p.phase;
    try {
      Promise.resolve(onProgress?.({ ...p })).catch(() => {});
    } catch {}
  };
  send({ phase: "config", fraction: 0 });
  const config = await probeConfig(request, signal);
  const result = await probeModel(device, config, {
    ...(request.contextLength !== undefined ? { contextLength: request.contextLength } : {}),
    ...(request.budgetMs !== undefined ? { budgetMs: request.budgetMs } : {}),
    ...(request.gpuMemoryBudget !== undefined ? { gpuMemoryBudget: request.gpuMemoryBudget } : {}),
    ...(request.streamSlots !== undefined ? { streamSlots: request.streamSlots } : {}),
    // Tuned as a load tunes (same cache), with its activations: the timed kernels are the model's.
    ...kernelLoadOptions(request),
    ...(signal ? { signal } : {}),
    onProgress: send,
  });
  return { ...result, architecture: config.architecture, adapter };
}
