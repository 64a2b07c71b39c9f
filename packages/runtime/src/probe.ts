// The device probe — "can my device run it?" before a download: a few seconds of the real kernels at
// a model's real shapes, on random weights in the layout a load makes (model/random-weights.ts;
// nothing is read or fetched), give an estimated decode speed, and the engine's own memory plan says
// whether the model fits this GPU, needs weight streaming, or cannot run here. The layout lives in
// probe-layout.ts, the timed engines in probe-timing.ts.
//
// How the speed is estimated. Building and timing the whole model would take as long as loading it,
// so two small engines are built with the model's real widths and its real-vocabulary embedding and
// lm_head, but only a = 1 and b = 3 layers. Each runs greedy decode steps at a short context (≤ 256
// positions) for its share of the time budget, giving t_a and t_b ms per token. A decode step is
// "head + layers": per layer = (t_b − t_a)/(b − a); the rest (embedding gather, final norm, lm_head,
// sampler, the host's per-step work) = t_a − a·per layer; the full model of L layers is then
// rest + L·per layer. A model of ≤ 3 layers is timed whole, without extrapolation. When the memory
// plan streams layers, the time to upload them every token (queue.writeBuffer at the rate measured
// here) is added: uploads bound streamed decode (ARCHITECTURE.md, weight streaming).
// Decode at a long context is slower than this (attention grows with the context).
//
// What "fits" means. The full model's layout comes from the runtime's own allocators run against a
// layout-only device (no GPU memory), and its bytes from the engine's memory plan (residencyPlan,
// plannedMemory): weights + KV cache at `contextLength` + activations. It fits when every tensor
// part is within this GPU's limits (maxBufferSize / maxStorageBufferBindingSize, the same rules a
// load applies) and the total is within `gpuMemoryBudget`. WebGPU does not tell how much memory a
// GPU has, so without a budget the probe assumes one (assumedGpuMemory, below). Over the budget,
// the plan a load with that budget would use (planResidency) is reported: "streaming" when some
// layers would stream from host memory, "too-large" when not even that fits or a limit is broken.
import type { Int4GemvMath } from "@wisp/kernels";
import type { ModelConfig } from "./config.ts";
import { plannedMemory, residencyPlan } from "./engine/engine.ts";
import { Aborted } from "./errors.ts";
import { kvCacheBytes } from "./model/kv-cache.ts";
import { activationBytes } from "./model/llama.ts";
import { randomGroups } from "./model/random-weights.ts";
import type { TuneOptions } from "./model/tuning.ts";
import { bytes, fullLayout, layoutDevice } from "./probe-layout.ts";
import { buildEngine, timeDecode, uploadRate } from "./probe-timing.ts";

export interface ProbeProgress {
  /** "layout": the memory plan; "build": random weights and a small engine; "measure": decode steps. */
  phase: "layout" | "build" | "measure" | "done";
  /** 0..1 of the whole probe: each small engine's build, then its share of the time budget. */
  fraction: number;
}

export interface ProbeOptions {
  /**
   * Time spent timing decode steps, ms (default 3000), shared by the small engines; each runs at least
   * MIN_TOKENS steps and stops at the first step that ends past its share. Building them
   * (random weights, upload, pipelines, warm-up) comes on top: well under a second or two on a GPU,
   * tens of seconds on SwiftShader, which compiles every pipeline on the CPU.
   */
  budgetMs?: number;
  /** The KV cache the model would be loaded with, in tokens (default as Engine.load: min(max positions, 4096)). */
  contextLength?: number;
  /** GPU memory the model may use, bytes (weights, KV cache, activations). Default: assumedGpuMemory(). */
  gpuMemoryBudget?: number;
  /** Streaming slots the plan assumes (default 2, as a load). */
  streamSlots?: number;
  /**
   * Autotune the decode GEMVs as a load with the same option would (LoadOptions.tune), so the timed
   * kernels are the ones the model will run; the small engines have the model's layer shapes, so a
   * shared cache serves the later load too. Default: not tuned (the default variants).
   */
  tune?: TuneOptions;
  /** The decode GEMVs' activations, as the load will use (LoadOptions.activations; default f32). */
  activations?: Int4GemvMath;
  signal?: AbortSignal;
  onProgress?: (p: ProbeProgress) => void;
}

export type ProbeVerdict = "fits" | "streaming" | "too-large";

export interface ProbeResult {
  /** Estimated decode tokens/s of the whole model on this device (with streaming uploads when the plan streams); null when a limit ruled it out before anything ran. */
  decodeTokS: number | null;
  msPerToken: number | null;
  /** Layer counts of the engines that were timed (e.g. [1, 3]); empty when nothing ran. */
  layersMeasured: number[];
  measured: Array<{ layers: number; tokens: number; msPerToken: number }>;
  /** How decodeTokS was obtained, in one sentence. */
  method: string;
  /** True when the whole model stays resident within the budget and every limit. */
  fits: boolean;
  verdict: ProbeVerdict;
  /** One sentence: why. */
  reason: string;
  weightBytes: number;
  kvBytes: number;
  activationBytes: number;
  /** weights + KV cache + activations: the whole model resident. */
  totalBytes: number;
  contextLength: number;
  /** The memory the verdict is against, and where it came from. */
  gpuMemoryBudget: number;
  budgetSource: "given" | "device-memory" | "assumed";
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  /** Present when the model needs streaming under the budget: what a load with it would do. */
  plan?: {
    residentLayers: number;
    streamedLayers: number;
    slots: number;
    /** Bytes uploaded per token. */
    bytesPerPass: number;
    /** GPU bytes the load would hold. */
    residentBytes: number;
    /** Upload time per token, ms, at the measured upload rate (included in msPerToken). */
    uploadMsPerToken?: number;
  };
  /** Building the small engines (random weights, upload, pipelines, warm-up), ms. */
  buildMs: number;
  /** Timing decode steps, ms (what budgetMs bounds). */
  measureMs: number;
  elapsedMs: number;
}

/**
 * GPU memory assumed when no budget is given. WebGPU exposes no memory size. navigator.deviceMemory
 * (RAM in GiB, rounded down and capped at 8 by Chrome; also in workers) is the best hint: integrated
 * GPUs share that memory and discrete ones usually have less than it, so half of it is taken; without
 * it, 2 GiB — a low-end laptop or phone GPU. Conservative on purpose: "fits" should hold on the
 * device; pass gpuMemoryBudget where the real size is known.
 */
export const ASSUMED_GPU_MEMORY = 2 * 2 ** 30;

export function assumedGpuMemory(): { bytes: number; source: "device-memory" | "assumed" } {
  const gib = (globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory;
  if (typeof gib === "number" && gib > 0) return { bytes: (gib * 2 ** 30) / 2, source: "device-memory" };
  return { bytes: ASSUMED_GPU_MEMORY, source: "assumed" };
}

/** Layer counts of the two timed engines (per-layer time is their difference). */
const LAYERS_A = 1;
const LAYERS_B = 3;
/** KV cache of the timed engines: enough that attention's split count is the full model's for most contexts, small in memory. */
const MEASURE_CONTEXT = 1024;

/** Estimates decode speed and memory fit of `config` on `device`; see the file's head for how. */
export async function probeModel(
  device: GPUDevice,
  config: ModelConfig,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const t0 = performance.now();
  const budgetMs = Math.max(100, options.budgetMs ?? 3000);
  const signal = options.signal;
  const progress = (phase: ProbeProgress["phase"], fraction: number) =>
    options.onProgress?.({ phase, fraction: Math.min(1, fraction) });
  const check = () => {
    if (signal?.aborted) throw new Aborted("the device probe was aborted");
  };
  check();
  progress("layout", 0);

  const assumed = assumedGpuMemory();
  const budget = options.gpuMemoryBudget ?? assumed.bytes;
  const budgetSource = options.gpuMemoryBudget !== undefined ? "given" : assumed.source;
  const plan = residencyPlan(config, {
    ...(options.contextLength !== undefined ? { contextLength: options.contextLength } : {}),
    gpuMemoryBudget: budget,
    ...(options.streamSlots !== undefined ? { streamSlots: options.streamSlots } : {}),
  });
  const layout = fullLayout(device, config, plan.context);
  const memory = plannedMemory(plan, config.numLayers, layout.perLayer, layout.head);
  const kvBytes = kvCacheBytes(config, plan.context);
  const actBytes = activationBytes(config, plan.chunk);
  const base = {
    weightBytes: memory.totalBytes - kvBytes - actBytes,
    kvBytes,
    activationBytes: actBytes,
    totalBytes: memory.totalBytes,
    contextLength: plan.context,
    gpuMemoryBudget: budget,
    budgetSource,
    limits: {
      maxBufferSize: device.limits.maxBufferSize,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
    },
  } satisfies Partial<ProbeResult>;
  let buildMs = 0;
  let measureMs = 0;
  const refused = (why: string): ProbeResult => {
    progress("done", 1);
    return {
      ...base,
      decodeTokS: null,
      msPerToken: null,
      layersMeasured: [],
      measured: [],
      method: "not measured: the model breaks a limit of this GPU",
      fits: false,
      verdict: "too-large",
      reason: why,
      buildMs,
      measureMs,
      elapsedMs: performance.now() - t0,
    };
  };
  if (layout.problem) return refused(layout.problem);

  // The memory verdict: the plan a load under this budget would make.
  let verdict: ProbeVerdict;
  let reason: string;
  let stream: ProbeResult["plan"];
  // "the 2.15 GB assumed for this GPU (…)" / "the budget of 1.50 GB"
  const budgetText =
    budgetSource === "given"
      ? `the budget of ${bytes(budget)}`
      : `the ${bytes(budget)} assumed for this GPU (${budgetSource === "device-memory" ? "half this device's memory" : "browsers do not tell"})`;
  const parts = `weights ${bytes(base.weightBytes)} + KV cache ${bytes(kvBytes)} at ${plan.context} tokens + activations ${bytes(actBytes)}`;
  try {
    const r = plan.residency!(layout.perLayer, layout.head);
    if (r.resident >= config.numLayers) {
      verdict = "fits";
      reason = `Needs ${bytes(memory.totalBytes)} (${parts}), within ${budgetText}.`;
    } else {
      verdict = "streaming";
      const streamed = config.numLayers - r.resident;
      stream = {
        residentLayers: r.resident,
        streamedLayers: streamed,
        slots: r.slots,
        bytesPerPass: streamed * layout.perLayer,
        residentBytes: plannedMemory(plan, config.numLayers, layout.perLayer, layout.head, r).residentBytes,
      };
      reason = `Needs ${bytes(memory.totalBytes)} (${parts}), more than ${budgetText}: ${r.resident} of ${config.numLayers} layers would stay on the GPU and ${streamed} stream from memory every token.`;
    }
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    verdict = "too-large";
    const slots = Math.max(1, options.streamSlots ?? 2);
    const minimum = plannedMemory(plan, config.numLayers, layout.perLayer, layout.head, {
      resident: 0,
      slots,
    }).residentBytes;
    reason = `Even streaming its layers needs ${bytes(minimum)} (embedding, KV cache at ${plan.context} tokens, activations and layer slots), more than ${budgetText}.`;
  }

  // The speed: two small engines of the real widths (or the whole model when it is that small).
  const counts = config.numLayers <= LAYERS_B ? [config.numLayers] : [LAYERS_A, LAYERS_B];
  const read = randomGroups(layoutDevice(device), config, 0x5eed);
  const measured: ProbeResult["measured"] = [];
  let uploadBps: number | undefined;
  const share = budgetMs / counts.length;
  const load = {
    ...(options.tune ? { tune: options.tune } : {}),
    ...(options.activations ? { activations: options.activations } : {}),
  };
  for (const [i, layers] of counts.entries()) {
    check();
    // Progress: each engine is 1/counts of the bar, 40% its build (weights, pipelines, warm-up) and
    // 60% its share of the budget.
    const at = (part: number) => (i + part) / counts.length;
    progress("build", at(0));
    let t = performance.now();
    const sub = { ...config, numLayers: layers };
    const subPlan = residencyPlan(sub, { contextLength: Math.min(plan.context, MEASURE_CONTEXT) });
    const engine = await buildEngine(device, sub, read, subPlan, load, (part) =>
      progress("build", at(part * 0.4)),
    );
    buildMs += performance.now() - t;
    if (typeof engine === "string") return refused(engine);
    try {
      check();
      t = performance.now();
      progress("measure", at(0.4));
      const timed = await timeDecode(engine, t + share, signal, () =>
        progress("measure", at(0.4 + 0.6 * Math.min(1, (performance.now() - t) / share))),
      );
      measured.push({ layers, ...timed });
      if (stream && i === counts.length - 1) uploadBps = await uploadRate(engine, read);
      measureMs += performance.now() - t;
    } finally {
      engine.destroy();
    }
  }
  check();

  const L = config.numLayers;
  let ms: number;
  let method: string;
  const [a, b] = measured;
  if (!b) {
    ms = a!.msPerToken;
    method = `timed whole: ${a!.tokens} greedy decode steps of all ${L} layers on random weights`;
  } else {
    const perLayer = Math.max(0, (b.msPerToken - a!.msPerToken) / (b.layers - a!.layers));
    const rest = Math.max(0, a!.msPerToken - a!.layers * perLayer);
    ms = rest + L * perLayer;
    method =
      `extrapolated: engines of ${a!.layers} and ${b.layers} layers at the real widths and vocabulary ` +
      `(random weights, ${a!.tokens} and ${b.tokens} greedy decode steps) gave ${perLayer.toFixed(3)} ms ` +
      `per layer + ${rest.toFixed(3)} ms for the rest; × ${L} layers` +
      (perLayer === 0 ? " (the layers were too cheap to resolve: a lower bound on time)" : "");
  }
  if (stream && uploadBps) {
    stream.uploadMsPerToken = (stream.bytesPerPass / uploadBps) * 1e3;
    ms += stream.uploadMsPerToken;
    method += `; + ${stream.uploadMsPerToken.toFixed(1)} ms per token to upload ${stream.streamedLayers} streamed layers at the measured ${(uploadBps / 1e9).toFixed(2)} GB/s`;
  }
  progress("done", 1);
  return {
    ...base,
    decodeTokS: 1e3 / ms,
    msPerToken: ms,
    layersMeasured: measured.map((m) => m.layers),
    measured,
    method,
    fits: verdict === "fits",
    verdict,
    reason,
    ...(stream ? { plan: stream } : {}),
    buildMs,
    measureMs,
    elapsedMs: performance.now() - t0,
  };
}
