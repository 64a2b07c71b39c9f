// The device probe's memory side (probe.ts): the full model's layout on this device, from the runtime's
// own allocators run against a layout-only stand-in device, so the sizes (INT8 head choice, row splits)
// are a load's and nothing touches GPU memory; and the rules a load would break.
import type { ModelConfig } from "./config.ts";
import { ModelFileError } from "./errors.ts";
import { createKvCache } from "./model/kv-cache.ts";
import { linearBytes } from "./model/linear.ts";
import { headBytes, layerBytes } from "./model/streaming.ts";
import { allocateHead, allocateLayer, headStorage } from "./model/weights.ts";

/**
 * A stand-in for `device` whose buffers are only labels and sizes: the runtime's allocators
 * (allocateLinear with its row splits, allocateLayer, createKvCache) run against it, so the probe
 * learns the full model's exact layout — and meets the errors a load would — without GPU memory.
 * Its createBuffer applies WebGPU's maxBufferSize rule, thrown rather than reported as a validation
 * error.
 */
export function layoutDevice(device: GPUDevice): GPUDevice {
  const limits = device.limits;
  const createBuffer = (d: GPUBufferDescriptor) => {
    if (d.size > limits.maxBufferSize) {
      throw new RangeError(
        `${d.label ?? "a buffer"} needs ${bytes(d.size)}, over this GPU's largest buffer (${bytes(limits.maxBufferSize)})`,
      );
    }
    return { label: d.label ?? "", size: d.size, usage: d.usage, destroy() {} };
  };
  return { limits, createBuffer, queue: { writeBuffer() {} } } as unknown as GPUDevice;
}

/** "1.23 GB" / "45 MB" (decimal, as download sizes are shown). */
export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  return n >= 1e7 ? `${Math.round(n / 1e6)} MB` : `${Math.max(0.1, n / 1e6).toFixed(1)} MB`;
}

/**
 * The full model's layout on this device: head (embedding + lm_head) and per-layer bytes, or the
 * first rule a load would break. The rules are the graph's: the embedding is gathered from one
 * binding (LlamaGraph), every layer matrix is read whole by prefill's GEMM (linear.gemm); lm_head may
 * be split into row parts (GEMV).
 */
export function fullLayout(
  device: GPUDevice,
  config: ModelConfig,
  context: number,
): { head: number; perLayer: number; problem?: string } {
  const layout = layoutDevice(device);
  const binding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  let head = 0;
  let perLayer = 0;
  try {
    // The head's storage as a load picks it (an INT4 model's lm_head is INT8: headStorage).
    const { embed, lmHead } = allocateHead(layout, config, "int4", headStorage(device, config, "int4"));
    head = headBytes(embed, lmHead);
    const layer = allocateLayer(layout, config, "int4", 0);
    perLayer = layerBytes(layer);
    if (embed.parts.length > 1) {
      return {
        head,
        perLayer,
        problem: `Its embedding table (${bytes(linearBytes(embed))}) is larger than this GPU's largest storage buffer (${bytes(binding)}).`,
      };
    }
    for (const l of [layer.qkv, layer.o, layer.gateUp, layer.down]) {
      if (l.parts.length > 1) {
        return {
          head,
          perLayer,
          problem: `A ${l.n}×${l.k} layer matrix is larger than this GPU's largest storage buffer (${bytes(binding)}).`,
        };
      }
    }
    createKvCache(layout, config, context);
    return { head, perLayer };
  } catch (e) {
    if (!(e instanceof RangeError || e instanceof ModelFileError)) throw e;
    return { head, perLayer, problem: sentence(e.message) };
  }
}

export const sentence = (m: string) =>
  `${m.charAt(0).toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? "" : "."}`;
