// Weight streaming: when the weights do not fit the GPU memory budget, the first `resident` layers stay
// on the GPU and the rest live in host memory (their packed GPU bytes, read back once after
// quantization) and run from a ring of GPU layer slots. Every forward pass uploads each streamed
// layer into its slot through the staging ring (upload.ts), its copies submitted ahead of the compute
// that needs it and after the submit that last used the slot: the queue's order makes the reuse safe
// without fences, and the GPU runs the same kernels on the same bytes, so the output is bit-identical
// to the resident run.
import { type Linear, linearBuffers, linearBytes } from "./linear.ts";
import { Uploader } from "./upload.ts";
import type { LayerWeights } from "./weights.ts";

/** Every GPU buffer of a layer, in one fixed order (slot and host copies follow it). */
export function layerBuffers(l: LayerWeights): GPUBuffer[] {
  return [
    l.inputNorm,
    l.postNorm,
    ...[l.qkv, l.o, l.gateUp, l.down].flatMap(linearBuffers),
    ...(l.qNorm ? [l.qNorm] : []),
    ...(l.kNorm ? [l.kNorm] : []),
  ];
}

/**
 * Embedding + lm_head bytes. `lmHead`: the lm_head (the embedding itself when tied: counted once), or
 * an untied lm_head's bytes before it exists (linearLayout). The two differ in storage in an INT4 model
 * (its lm_head is INT8: weights.ts headStorage), so one is never the other's size.
 */
export function headBytes(embed: Linear, lmHead: Linear | number): number {
  if (typeof lmHead === "number") return linearBytes(embed) + lmHead;
  return linearBytes(embed) + (lmHead === embed ? 0 : linearBytes(lmHead));
}

export const layerBytes = (l: LayerWeights): number => layerBuffers(l).reduce((s, b) => s + b.size, 0);

/** The buffers' bytes read back from the GPU, concatenated in order (one staging buffer). */
export async function readBuffers(device: GPUDevice, bufs: GPUBuffer[]): Promise<Uint8Array> {
  const staging = device.createBuffer({
    size: bufs.reduce((a, b) => a + b.size, 0),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  let o = 0;
  for (const b of bufs) {
    enc.copyBufferToBuffer(b, 0, staging, o, b.size);
    o += b.size;
  }
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const bytes = new Uint8Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return bytes;
}

/** Views of `bytes` cut to `sizes`; null when the lengths disagree. */
export function splitBytes(bytes: Uint8Array, sizes: number[]): Uint8Array[] | null {
  if (sizes.reduce((a, b) => a + b, 0) !== bytes.byteLength) return null;
  let o = 0;
  return sizes.map((n) => {
    o += n;
    return bytes.subarray(o - n, o);
  });
}

/** Reads every buffer of a layer back to host memory (the bytes the slots are refilled from). */
export async function readLayer(device: GPUDevice, l: LayerWeights): Promise<Uint8Array[]> {
  const bufs = layerBuffers(l);
  return splitBytes(
    await readBuffers(device, bufs),
    bufs.map((b) => b.size),
  )!;
}

export interface StreamStats {
  residentLayers: number;
  streamedLayers: number;
  slots: number;
  /** bytes of one layer as uploaded */
  layerBytes: number;
  /** bytes uploaded per forward pass (every streamed layer once) */
  bytesPerPass: number;
  /** since load */
  bytesStreamed: number;
  layersUploaded: number;
  /** host time spent uploading (copying into the staging ring, waiting for a free slot), since load */
  uploadHostMs: number;
  /** streamed layers held in host memory now */
  hostLayers: number;
  /** layers fetched from the packed cache because host memory did not hold them, since load */
  hostFetches: number;
  hostFetchMs: number;
}

/** Where streamed layers come from when they are not in host memory (the packed cache: IndexedDB, files). */
export type HostLayerSource = (layer: number) => Promise<Uint8Array[]>;

/**
 * The streamed layers' host copies and the GPU slot ring they run from. Host memory holds every
 * streamed layer unless bound(): then at most `capacity` layers stay (least recently used go) and the
 * others are fetched from `source` when a pass needs them.
 */
export class LayerStreamer {
  readonly stats: StreamStats;
  private readonly host = new Map<number, Uint8Array[]>();
  private capacity = Number.POSITIVE_INFINITY;
  private source: HostLayerSource | undefined;
  private readonly up: Uploader;

  constructor(
    device: GPUDevice,
    readonly resident: number,
    readonly streamedLayers: number,
    readonly slots: LayerWeights[],
    /** streamed layers already in host memory: layer → buffers in layerBuffers order */
    host: Map<number, Uint8Array[]>,
    source?: HostLayerSource,
  ) {
    for (const [l, b] of host) this.host.set(l, b);
    this.source = source;
    this.up = new Uploader(device);
    const bytes = layerBuffers(slots[0]!).reduce((s, b) => s + b.size, 0);
    this.stats = {
      residentLayers: resident,
      streamedLayers,
      slots: slots.length,
      layerBytes: bytes,
      bytesPerPass: bytes * streamedLayers,
      bytesStreamed: 0,
      layersUploaded: 0,
      uploadHostMs: 0,
      hostLayers: this.host.size,
      hostFetches: 0,
      hostFetchMs: 0,
    };
  }

  /** Keeps at most `capacity` streamed layers in host memory; the rest come from `source` when needed. */
  bound(capacity: number, source: HostLayerSource): void {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.source = source;
    this.evict();
  }

  private evict(keep?: number): void {
    for (const l of this.host.keys()) {
      if (this.host.size <= this.capacity) break;
      if (l !== keep) this.host.delete(l);
    }
    this.stats.hostLayers = this.host.size;
  }

  /**
   * Makes a streamed layer's bytes present in host memory: undefined when they already are (no await
   * needed), else a promise that fetches them from the source.
   */
  fetch(layer: number): Promise<void> | undefined {
    const have = this.host.get(layer);
    if (have) {
      this.host.delete(layer); // most recently used last
      this.host.set(layer, have);
      return undefined;
    }
    if (!this.source) throw new Error(`streamed layer ${layer} is neither in host memory nor in a cache`);
    const t0 = performance.now();
    return this.source(layer).then((bytes) => {
      this.host.set(layer, bytes);
      this.stats.hostFetches++;
      this.stats.hostFetchMs += performance.now() - t0;
      this.evict(layer);
    });
  }

  /** The host copy of streamed layer `layer` (fetched first if needed). */
  async hostLayer(layer: number): Promise<Uint8Array[]> {
    await this.fetch(layer);
    return this.host.get(layer)!;
  }

  /** The slot that layer `layer` (≥ resident) runs from. */
  slotOf(layer: number): number {
    return (layer - this.resident) % this.slots.length;
  }

  /**
   * Uploads a streamed layer into its slot: its copies are queued after everything submitted before
   * the call, and before anything submitted after it resolves. Its bytes must be in host memory
   * (fetch first).
   */
  async upload(layer: number): Promise<void> {
    const t0 = performance.now();
    const bufs = layerBuffers(this.slots[this.slotOf(layer)]!);
    const host = this.host.get(layer);
    if (!host) throw new Error(`streamed layer ${layer} is not in host memory`);
    for (const [i, b] of bufs.entries()) await this.up.write(b, 0, host[i]!);
    this.up.flush();
    this.stats.uploadHostMs += performance.now() - t0;
    this.stats.bytesStreamed += this.stats.layerBytes;
    this.stats.layersUploaded++;
  }

  destroy(): void {
    this.up.destroy();
    for (const s of this.slots) for (const b of layerBuffers(s)) b.destroy();
    this.host.clear();
  }
}

/**
 * How many layers stay resident under `budget` bytes: the fixed part (embedding, lm_head, norms, KV
 * cache, activations) and a ring of `slots` layer slots come first; then as many whole layers as fit.
 * Throws when even zero resident layers do not fit.
 */
export function planResidency(
  budget: number,
  fixedBytes: number,
  perLayer: number,
  numLayers: number,
  slots: number,
): { resident: number; slots: number } {
  if (fixedBytes + numLayers * perLayer <= budget) return { resident: numLayers, slots: 0 };
  const room = budget - fixedBytes - slots * perLayer;
  if (room < 0) {
    throw new RangeError(
      `a GPU memory budget of ${budget} bytes is below the minimum for this model: ${fixedBytes} fixed ` +
        `(embedding, lm_head, KV cache, activations) + ${slots} streaming slots of ${perLayer} bytes`,
    );
  }
  return { resident: Math.min(numLayers, Math.floor(room / perLayer)), slots };
}
