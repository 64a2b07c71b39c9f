// Packed weights: the GPU-ready bytes of a loaded model (INT4 blocks, an INT8 lm_head, f16 scales, or
// f32; f32 norms and biases) in groups — "embed", "lm_head" (untied only), "norm", "layer.<i>" — each the
// concatenation of its buffers in a fixed order. What the weight store caches (the second load reads
// these and neither parses a checkpoint nor quantizes), what weight streaming uploads, and what the
// bench makes up. A group's layout depends only on the config, the storage and the device's binding
// limit (row splits), all recorded in the meta; anything else invalidates the cache.
import type { ModelConfig } from "../config.ts";
import { type LinearStorage, linearBuffers, type Quant, storageBuffer } from "./linear.ts";
import {
  type HostLayerSource,
  headBytes,
  LayerStreamer,
  layerBuffers,
  layerBytes,
  readBuffers,
  splitBytes as split,
} from "./streaming.ts";
import { Uploader } from "./upload.ts";
import {
  allocateHead,
  allocateLayer,
  type HeadQuant,
  headStorage,
  type LayerWeights,
  type ModelWeights,
  type ResidencyPlan,
} from "./weights.ts";

/**
 * Bump when the packed layout changes (INT4/INT8 format, group order, buffer order). 2: an INT4
 * model's lm_head (and tied embedding) is INT8; a format-1 cache holds it in INT4 and is not read.
 */
export const PACKED_FORMAT = 2;
export const PACKED_META = "packed/meta.json";

export interface PackedMeta {
  format: number;
  quant: Quant;
  /** the lm_head storage asked for (LoadOptions.headQuant) */
  headQuant: HeadQuant;
  /** how the lm_head (and a tied embedding) is stored (headStorage: it may differ from headQuant) */
  head: LinearStorage;
  /** min(maxStorageBufferBindingSize, maxBufferSize) of the device the groups were laid out for */
  bindingLimit: number;
  config: ModelConfig;
  /** group → bytes */
  groups: Record<string, number>;
}

/** Where packed groups live (the weight store's blobs, a folder, memory). */
export interface PackedCache {
  get(name: string): Promise<Uint8Array | undefined>;
  put(name: string, bytes: Uint8Array): Promise<void>;
}

export const bindingLimit = (device: GPUDevice): number =>
  Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);

export const groupNames = (config: ModelConfig): string[] => [
  "embed",
  ...(config.tieWordEmbeddings ? [] : ["lm_head"]),
  "norm",
  ...Array.from({ length: config.numLayers }, (_, i) => `layer.${i}`),
];

/** The buffers of a group, in packing order. */
function groupBuffers(w: ModelWeights, group: string): GPUBuffer[] {
  if (group === "embed") return linearBuffers(w.embed);
  if (group === "lm_head") return linearBuffers(w.lmHead);
  if (group === "norm") return [w.finalNorm];
  return layerBuffers(w.layers[Number(group.slice(6))]!);
}

export class StalePackedWeights extends Error {
  override name = "StalePackedWeights";
}

async function write(up: Uploader, bufs: GPUBuffer[], bytes: Uint8Array, group: string): Promise<void> {
  const parts = split(
    bytes,
    bufs.map((b) => b.size),
  );
  if (!parts) throw new StalePackedWeights(`packed group "${group}" does not match this device's layout`);
  for (const [i, b] of bufs.entries()) await up.write(b, 0, parts[i]!);
}

/**
 * Packed groups → GPU weights, with the same residency decision as loadWeights: streamed layers keep
 * their bytes in host memory and run from slots. `read` gives a group's bytes.
 */
export async function weightsFromPacked(
  device: GPUDevice,
  c: ModelConfig,
  quant: Quant,
  read: (group: string) => Promise<Uint8Array>,
  residency?: ResidencyPlan,
  onProgress?: (p: { phase: "read"; loaded: number; total: number }) => void,
  /** host memory for streamed layers (bytes): whole layers that fit stay, the others are re-read per pass */
  hostBytes = Number.POSITIVE_INFINITY,
  /** the lm_head's storage as asked for and as stored (a cache's meta); default: headStorage's rule */
  head: { quant: HeadQuant; storage: LinearStorage } = {
    quant: "int8",
    storage: headStorage(device, c, quant),
  },
): Promise<ModelWeights> {
  const made: GPUBuffer[] = [];
  const total = groupNames(c).length;
  let loaded = 0;
  const step = () => onProgress?.({ phase: "read", loaded: ++loaded, total });
  const up = new Uploader(device);
  const next = readAhead(read, groupNames(c));
  try {
    const { embed, lmHead } = allocateHead(device, c, quant, head.storage);
    made.push(...linearBuffers(embed));
    await write(up, linearBuffers(embed), await next("embed"), "embed");
    step();
    if (lmHead !== embed) {
      made.push(...linearBuffers(lmHead));
      await write(up, linearBuffers(lmHead), await next("lm_head"), "lm_head");
      step();
    }
    const finalNorm = storageBuffer(device, "model.norm.weight", c.hiddenSize * 4);
    made.push(finalNorm);
    await write(up, [finalNorm], await next("norm"), "norm");
    step();
    const layers: LayerWeights[] = [];
    const host = new Map<number, Uint8Array[]>();
    const slots: LayerWeights[] = [];
    let plan: { resident: number; slots: number } | undefined;
    for (let i = 0; i < c.numLayers; i++) {
      const bytes = await next(`layer.${i}`);
      if (i === 0 || !plan || i < plan.resident) {
        const layer = allocateLayer(device, c, quant, i);
        made.push(...layerBuffers(layer));
        if (i === 0 && residency) {
          plan = residency(layerBytes(layer), headBytes(embed, lmHead));
        }
        if (!plan || i < plan.resident) {
          await write(up, layerBuffers(layer), bytes, `layer.${i}`);
          layers.push(layer);
          step();
          continue;
        }
        // layer 0 streams too: its buffers become the first slot's shape
        for (const b of layerBuffers(layer)) b.destroy();
      }
      if (!plan) throw new Error("unreachable: residency plan missing");
      while (slots.length < plan.slots) {
        const slot = allocateLayer(device, c, quant, i);
        made.push(...layerBuffers(slot));
        slots.push(slot);
      }
      const parts = split(
        bytes,
        layerBuffers(slots[0]!).map((b) => b.size),
      );
      if (!parts)
        throw new StalePackedWeights(`packed group "layer.${i}" does not match this device's layout`);
      if (host.size < hostLayerCount(hostBytes, slots[0]!)) host.set(i, parts);
      layers.push(slots[(i - plan.resident) % slots.length]!);
      step();
    }
    await up.done();
    const streamed = plan ? c.numLayers - plan.resident : 0;
    const streamer =
      streamed > 0 && plan
        ? new LayerStreamer(device, plan.resident, streamed, slots, host, layerSource(read, slots[0]!))
        : undefined;
    if (streamer && Number.isFinite(hostBytes)) {
      streamer.bound(hostLayerCount(hostBytes, slots[0]!), layerSource(read, slots[0]!));
    }
    return {
      quant,
      headQuant: head.quant,
      embed,
      layers,
      finalNorm,
      lmHead,
      ...(streamer ? { streamer } : {}),
    };
  } catch (e) {
    for (const b of made) b.destroy();
    throw e;
  } finally {
    up.destroy();
  }
}

/**
 * `read` that starts reading the group after the one asked for (in `order`), so a file or IndexedDB
 * read overlaps the upload of the group before it. One group is read ahead at most.
 */
function readAhead(
  read: (group: string) => Promise<Uint8Array>,
  order: string[],
): (group: string) => Promise<Uint8Array> {
  const ahead = new Map<string, Promise<Uint8Array>>();
  return (group) => {
    const got = ahead.get(group) ?? read(group);
    ahead.delete(group);
    const next = order[order.indexOf(group) + 1];
    if (next !== undefined && !ahead.has(next)) {
      const p = read(next);
      p.catch(() => {}); // a load that stops early never asks for it: no unhandled rejection
      ahead.set(next, p);
    }
    return got;
  };
}

/** Whole streamed layers that fit in `hostBytes` of host memory (at least one). */
export function hostLayerCount(hostBytes: number, slot: LayerWeights): number {
  return Math.max(1, Math.floor(hostBytes / layerBytes(slot)));
}

/** Streamed layers re-read from packed groups, cut to a slot's buffers. */
export function layerSource(
  read: (group: string) => Promise<Uint8Array>,
  slot: LayerWeights,
): HostLayerSource {
  const sizes = layerBuffers(slot).map((b) => b.size);
  return async (layer) => {
    const parts = split(await read(`layer.${layer}`), sizes);
    if (!parts)
      throw new StalePackedWeights(`packed group "layer.${layer}" does not match this device's layout`);
    return parts;
  };
}

/** Reads a group's buffers back from the GPU (streamed layers: from the streamer's host copy). */
async function groupBytes(device: GPUDevice, w: ModelWeights, group: string): Promise<Uint8Array> {
  const s = w.streamer;
  if (s && group.startsWith("layer.") && Number(group.slice(6)) >= s.resident) {
    return concat(await s.hostLayer(Number(group.slice(6))));
  }
  return readBuffers(device, groupBuffers(w, group));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Writes every group, then the meta last (its presence is what marks the packed weights complete). */
export async function writePacked(
  device: GPUDevice,
  config: ModelConfig,
  w: ModelWeights,
  cache: PackedCache,
): Promise<PackedMeta> {
  const groups: Record<string, number> = {};
  for (const g of groupNames(config)) {
    const bytes = await groupBytes(device, w, g);
    groups[g] = bytes.byteLength;
    await cache.put(`packed/${g}`, bytes);
  }
  const meta: PackedMeta = {
    format: PACKED_FORMAT,
    quant: w.quant,
    headQuant: w.headQuant,
    head: w.lmHead.quant,
    bindingLimit: bindingLimit(device),
    config,
    groups,
  };
  await cache.put(PACKED_META, new TextEncoder().encode(JSON.stringify(meta)));
  return meta;
}

/**
 * The cache's meta when it holds complete packed weights usable on this device with this storage (and,
 * for INT4, this lm_head storage asked for).
 */
export async function readPackedMeta(
  device: GPUDevice,
  cache: PackedCache,
  quant: Quant,
  headQuant: HeadQuant = "int8",
): Promise<PackedMeta | undefined> {
  const raw = await cache.get(PACKED_META);
  if (!raw) return undefined;
  let meta: PackedMeta;
  try {
    meta = JSON.parse(new TextDecoder().decode(raw)) as PackedMeta;
  } catch {
    return undefined;
  }
  const ok =
    meta.format === PACKED_FORMAT &&
    meta.quant === quant &&
    (quant === "f32" || meta.headQuant === headQuant) &&
    ["int4", "int8", "f32"].includes(meta.head) &&
    meta.bindingLimit === bindingLimit(device) &&
    groupNames(meta.config).every((g) => typeof meta.groups[g] === "number");
  return ok ? meta : undefined;
}
