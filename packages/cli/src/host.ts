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
import { folderSource, nodeGpu } from "@wisp/runtime/node";

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

export function quantOption(v: string | undefined, fallback: "int4" | "f32"): "int4" | "f32" {
  if (v === undefined) return fallback;
  if (v !== "int4" && v !== "f32") throw new Error(`--quant must be int4 or f32, got "${v}"`);
  return v;
}
