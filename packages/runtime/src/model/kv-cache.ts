// The paged KV cache (kernels/README.md): per layer, K and V f32 buffers of numPages·16 token slots
// of (nKvHeads, headDim). One sequence for now, with the identity page table; batching and prefix
// sharing will hand out pages through the same table.
import type { ModelConfig } from "../config.ts";

export const PAGE_TOKENS = 16;

export interface KvCache {
  /** tokens it can hold */
  capacity: number;
  numPages: number;
  /** per layer */
  k: GPUBuffer[];
  v: GPUBuffer[];
  /** (numPages) u32 */
  pageTable: GPUBuffer;
  bytes: number;
}

/** Bytes createKvCache allocates for `contextLength` tokens. */
export function kvCacheBytes(config: ModelConfig, contextLength: number): number {
  const tokens = Math.ceil(contextLength / PAGE_TOKENS) * PAGE_TOKENS;
  return 2 * config.numLayers * tokens * config.numKvHeads * config.headDim * 4 + tokens * 4;
}

export function createKvCache(device: GPUDevice, config: ModelConfig, contextLength: number): KvCache {
  const numPages = Math.ceil(contextLength / PAGE_TOKENS);
  const slotBytes = config.numKvHeads * config.headDim * 4;
  const layerBytes = numPages * PAGE_TOKENS * slotBytes;
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (layerBytes > limit) {
    throw new RangeError(
      `a KV cache of ${contextLength} tokens needs ${layerBytes} bytes per layer (> ${limit})`,
    );
  }
  const usage = GPUBufferUsage.STORAGE;
  const make = (kind: string, i: number) =>
    device.createBuffer({ label: `kv.${kind}.${i}`, size: layerBytes, usage });
  const pageTable = device.createBuffer({
    label: "kv.pageTable",
    size: Math.max(16, numPages * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(
    pageTable,
    0,
    Uint32Array.from({ length: numPages }, (_, i) => i),
  );
  return {
    capacity: numPages * PAGE_TOKENS,
    numPages,
    k: Array.from({ length: config.numLayers }, (_, i) => make("k", i)),
    v: Array.from({ length: config.numLayers }, (_, i) => make("v", i)),
    pageTable,
    bytes: 2 * config.numLayers * layerBytes,
  };
}

export function destroyKvCache(c: KvCache): void {
  for (const b of [...c.k, ...c.v, c.pageTable]) b.destroy();
}
