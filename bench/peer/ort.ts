// onnxruntime-web in Node on Dawn (`webgpu` npm): the two WebGPU EPs ORT-web 1.30 ships, loaded from
// their dist files (ORT's `node` export is wasm-only). The files travel brotli-compressed beside the
// bundle (ort/*.br) and are unpacked once into the temp folder.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { brotliDecompressSync } from "node:zlib";
import type * as OrtModule from "onnxruntime-web";

export type Ort = typeof OrtModule;
/** jsep: JS kernels (`dist/ort.mjs`, transformers.js v3); webgpu: native C++ EP (`dist/ort.webgpu.mjs`, v4). */
export type Ep = "jsep" | "webgpu";
export const EPS: readonly Ep[] = ["jsep", "webgpu"];
export const ORT_VERSION = "1.30.0";

export const ORT_FILES: Record<Ep, readonly string[]> = {
  jsep: ["ort.min.mjs", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"],
  webgpu: [
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
  ],
};

/** The folder holding ORT's dist files: `ortDir` itself, or the unpacked copy of its *.br files. */
export function unpackOrt(ortDir: string): string {
  const packed = readdirSync(ortDir).filter((f) => f.endsWith(".br"));
  if (packed.length === 0) return ortDir;
  const dst = join(tmpdir(), `wisp-peer-ort-${ORT_VERSION}`);
  mkdirSync(dst, { recursive: true });
  for (const f of packed) {
    const out = join(dst, f.slice(0, -3));
    if (existsSync(out)) continue;
    writeFileSync(`${out}.part`, brotliDecompressSync(readFileSync(join(ortDir, f))));
    renameSync(`${out}.part`, out);
  }
  return dst;
}

/** The wasm heap(s) ORT creates, so their size can be reported. */
const memories: WebAssembly.Memory[] = [];
export const wasmHeapBytes = (): number => Math.max(0, ...memories.map((m) => m.buffer.byteLength));

export interface Loaded {
  ort: Ort;
  adapter: Record<string, unknown>;
}

/** Installs Dawn as navigator.gpu (with the writeBuffer shim) and imports the EP's ORT build. */
export async function loadOrt(dir: string, ep: Ep): Promise<Loaded> {
  const { create, globals } = await import("webgpu");
  Object.assign(globalThis, globals);
  const gpu = create([]);
  // Dawn-node's writeBuffer rejects sources backed by a SharedArrayBuffer, and ORT's threaded wasm
  // heap is one: copy such data into a plain buffer first. Browsers accept shared sources.
  const proto = GPUQueue.prototype;
  const writeBuffer = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer, offset, data, dataOffset?, size?) {
    let src: BufferSource | SharedArrayBuffer = data;
    let at = dataOffset;
    if (src instanceof SharedArrayBuffer) {
      const o = at ?? 0;
      src = new Uint8Array(src, o, size ?? src.byteLength - o).slice();
      at = 0;
    } else if (ArrayBuffer.isView(src) && src.buffer instanceof SharedArrayBuffer) {
      src = (src as Uint8Array).slice();
    }
    const args = at === undefined ? [] : size === undefined ? [at] : [at, size];
    return (writeBuffer as (...a: unknown[]) => undefined).call(this, buffer, offset, src, ...args);
  } as typeof proto.writeBuffer;
  const nav = (globalThis as { navigator?: object }).navigator;
  if (!nav) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  Object.defineProperty(globalThis.navigator, "gpu", { value: gpu, configurable: true });
  const ad = await gpu.requestAdapter();
  const adapter: Record<string, unknown> = {
    vendor: ad?.info.vendor,
    architecture: ad?.info.architecture,
    description: ad?.info.description,
    f16: ad?.features.has("shader-f16") ?? false,
    maxBufferSize: ad?.limits.maxBufferSize,
    maxStorageBufferBindingSize: ad?.limits.maxStorageBufferBindingSize,
  };

  const Memory = WebAssembly.Memory;
  const Wrapped = function (this: unknown, d: WebAssembly.MemoryDescriptor) {
    const m = new Memory(d);
    memories.push(m);
    return m;
  } as unknown as typeof WebAssembly.Memory;
  Wrapped.prototype = Memory.prototype;
  WebAssembly.Memory = Wrapped;

  const entry = ORT_FILES[ep][0]!;
  const ort = (await import(/* @vite-ignore */ pathToFileURL(join(dir, entry)).href)) as Ort;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = process.env.ORT_VERBOSE ? "verbose" : "error";
  return { ort, adapter };
}
