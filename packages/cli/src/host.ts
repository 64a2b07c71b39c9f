// Node host plumbing: a Dawn device with the adapter's real limits, and a model source from a path or URL.
import { existsSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import {
  type Engine,
  type FileSource,
  hfSource,
  type LoadOptions,
  requestDevice,
  urlSource,
} from "@wisp/runtime";
import { fileTuneCache, folderSource, nodeGpu } from "@wisp/runtime/node";

let device: Promise<GPUDevice> | undefined;
/** Kept alive for the process: Dawn tears its instance down when the GPU/adapter objects are collected. */
const keep: unknown[] = [];

export function nodeDevice(): Promise<GPUDevice> {
  device ??= (async () => {
    const hint = "install a Vulkan driver (or Debian chromium, whose SwiftShader gives a CPU fallback)";
    const a = await requestDevice(await nodeGpu(), {
      noWebGPU: `Dawn (npm webgpu) could not start: ${hint}`,
      noAdapter: `no WebGPU adapter: ${hint}`,
    });
    keep.push(a.gpu, a.adapter);
    return a.device;
  })();
  return device;
}

export interface ModelRef {
  source: FileSource;
  ggufFile?: string;
}

/** A local folder, a local .gguf file, an http(s) base URL, or a Hugging Face model id. */
export function modelSource(model: string | undefined): ModelRef {
  if (!model) throw new Error("--model is required");
  if (/^https?:\/\//.test(model)) {
    if (model.endsWith(".gguf")) {
      const cut = model.lastIndexOf("/");
      return { source: urlSource(model.slice(0, cut + 1)), ggufFile: model.slice(cut + 1) };
    }
    return { source: urlSource(model.endsWith("/") ? model : `${model}/`) };
  }
  const path = resolve(model);
  if (existsSync(path)) {
    if (statSync(path).isFile()) return { source: folderSource(dirname(path)), ggufFile: basename(path) };
    return { source: folderSource(path) };
  }
  if (/^[\w.-]+\/[\w.-]+$/.test(model)) return { source: hfSource(model) };
  throw new Error(`model not found: ${model} (a folder, a .gguf file, a URL or a Hugging Face id)`);
}

export async function loadEngine(model: string | undefined, options: LoadOptions): Promise<Engine> {
  const { Engine } = await import("@wisp/runtime");
  const ref = modelSource(model);
  return Engine.load(await nodeDevice(), ref.source, {
    ...options,
    ...(ref.ggufFile ? { ggufFile: ref.ggufFile } : {}),
  });
}

export function intOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
}

export function numberOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${v}"`);
  return n;
}

/** Bad options: exit code 2 (main.ts). */
export class UsageError extends Error {
  override name = "UsageError";
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A byte count: "1048576", "512MB", "1.5GiB", "300KB" (KB/MB/GB/TB decimal, KiB/MiB/GiB/TiB binary). */
export function parseSize(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** --gpu-budget <size> and --stream-slots N → Engine.load's gpuMemoryBudget / streamSlots. */
export function streamingOptions(
  budget: string | undefined,
  slots: string | undefined,
): Pick<LoadOptions, "gpuMemoryBudget" | "streamSlots"> {
  if (budget === undefined) {
    if (slots !== undefined) throw new UsageError("--stream-slots needs --gpu-budget <size>");
    return {};
  }
  const bytes = parseSize(budget);
  if (bytes === undefined) {
    throw new UsageError(
      `--gpu-budget must be a positive size in bytes or with a unit (e.g. 536870912, 512MB, 1.5GiB, 300KB), got "${budget}"`,
    );
  }
  if (slots === undefined) return { gpuMemoryBudget: bytes };
  const n = Number(slots);
  if (!/^\s*\d+\s*$/.test(slots) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--stream-slots must be a positive integer, got "${slots}"`);
  }
  return { gpuMemoryBudget: bytes, streamSlots: n };
}

/** `--stats`: GPU memory as planned and the weight streaming counters, one line (exact bytes). */
export function memoryReport(engine: Engine): string {
  const m = engine.memory;
  const s = engine.streamStats;
  const memory =
    `GPU memory ${m.residentBytes} of ${m.totalBytes} bytes resident ` +
    `(fixed ${m.fixedBytes}, ${m.perLayerBytes} per layer)`;
  if (!s) return `[${memory}; all ${engine.config.numLayers} layers resident]`;
  return (
    `[${memory}; streaming: ${s.residentLayers} of ${s.residentLayers + s.streamedLayers} layers resident, ` +
    `${s.streamedLayers} streamed through ${s.slots} slot${s.slots === 1 ? "" : "s"}, ${s.bytesPerPass} bytes per pass, ` +
    `${s.bytesStreamed} bytes in ${s.layersUploaded} layer uploads so far (${s.uploadHostMs.toFixed(1)} ms in writeBuffer)]`
  );
}

/**
 * Decode GEMV autotuning, only with --tune (its picks, timed kernel by kernel, never made the decode
 * step faster on an H200; ARCHITECTURE.md): choices cached in <cache dir>/tuning.json, so only the
 * first load of a shape on this GPU spends up to 2 s timing. --no-tune is the default, still accepted.
 */
export function tuneOption(v: Record<string, unknown>): Pick<LoadOptions, "tune"> {
  if (v.tune !== true || v["no-tune"] === true) return {};
  return { tune: { cache: fileTuneCache() } };
}

/** `--stats`: what the autotuner did, one line. */
export function tuneReport(engine: Engine): string {
  const t = engine.tuning;
  if (!t) return "[autotuning off]";
  const cached = t.reports.filter((r) => r.fromCache).length;
  const faster = t.reports.filter((r) => r.chosenUs !== undefined && r.chosenUs < r.defaultUs!).length;
  return `[autotuning: ${t.reports.length} GEMV shapes, ${cached} from the cache, ${faster} timed faster than the default, ${t.ms.toFixed(0)} ms]`;
}

/**
 * `--activations f32|q8`: the decode GEMVs' x with INT4 weights (LoadOptions.activations); q8 rounds it
 * to 8 bits per block of 32 and runs integer dot products (faster; not bit-identical to f32).
 */
export function activationsOption(v: string | undefined): Pick<LoadOptions, "activations"> {
  if (v === undefined) return {};
  if (v !== "f32" && v !== "q8") throw new UsageError(`--activations must be f32 or q8, got "${v}"`);
  return { activations: v };
}

export function quantOption(v: string | undefined, fallback: "int4" | "f32"): "int4" | "f32" {
  if (v === undefined) return fallback;
  if (v !== "int4" && v !== "f32") throw new Error(`--quant must be int4 or f32, got "${v}"`);
  return v;
}
