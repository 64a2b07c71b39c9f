// Random packed weights of a model's real shapes, without a checkpoint: what the bench
// (bench/model.ts) and the device probe (probe.ts) run the real kernels on. The groups have exactly
// the layout a cached model's packed groups have (model/packed.ts), so weightsFromPacked uploads them
// as it would a cached model. Values do not matter for speed, but zeros would (never bench on zeros).
import { f32ToF16Bits } from "@wisp/kernels";
import type { ModelConfig } from "../config.ts";
import { destroyLinear, linearBuffers } from "./linear.ts";
import { layerBuffers } from "./streaming.ts";
import { allocateHead, allocateLayer, headStorage } from "./weights.ts";

/** xorshift32 words. */
export function fillRandom(u32: Uint32Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < u32.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    u32[i] = x >>> 0;
  }
}

/**
 * Random packed groups laid out exactly as the runtime's (allocate the real structure once to learn
 * the buffers, then fill by kind): INT4 nibbles and INT8 bytes (the lm_head, headStorage's default
 * rule — what weightsFromPacked allocates without a meta) uniform, block scales ≈ 1/(4.6·√K) and
 * 1/(73·√K) (the levels' standard deviations) so activations stay O(1), norms 1, biases 0. Cached per group so repeated reads (budget runs) reuse the bytes.
 * `device` is only asked for buffers' sizes and labels (the probe passes a layout-only stand-in).
 */
export function randomGroups(
  device: GPUDevice,
  c: ModelConfig,
  seed: number,
): (group: string) => Promise<Uint8Array> {
  const cache = new Map<string, Uint8Array>();
  const fill = (bufs: GPUBuffer[], k: number, s: number): Uint8Array => {
    const out = new Uint8Array(bufs.reduce((a, b) => a + b.size, 0));
    let o = 0;
    const scale = f32ToF16Bits(1 / (4.6 * Math.sqrt(k)));
    const scale8 = f32ToF16Bits(1 / (73 * Math.sqrt(k)));
    bufs.forEach((b, i) => {
      const words = new Uint32Array(out.buffer, o, b.size / 4);
      if (b.label.endsWith(".qweight") || b.label.endsWith(".qweight8")) fillRandom(words, s * 977 + i);
      else if (b.label.endsWith(".scales")) words.fill(scale | (scale << 16));
      else if (b.label.endsWith(".scales8")) words.fill(scale8 | (scale8 << 16));
      else if (b.label.endsWith(".bias")) words.fill(0);
      else new Float32Array(out.buffer, o, b.size / 4).fill(1);
      o += b.size;
    });
    return out;
  };
  return async (group: string): Promise<Uint8Array> => {
    let bytes = cache.get(group);
    if (bytes) return bytes;
    if (group === "embed" || group === "lm_head") {
      const { embed, lmHead } = allocateHead(device, c, "int4", headStorage(device, c, "int4"));
      const l = group === "embed" ? embed : lmHead;
      bytes = fill(linearBuffers(l), c.hiddenSize, seed + (group === "embed" ? 1 : 2));
      destroyLinear(embed);
      if (lmHead !== embed) destroyLinear(lmHead);
    } else if (group === "norm") {
      bytes = new Uint8Array(new Float32Array(Math.ceil(c.hiddenSize / 4) * 4).fill(1).buffer);
    } else {
      const i = Number(group.slice(6));
      const l = allocateLayer(device, c, "int4", i);
      // K per matrix: the fill only needs a plausible scale; use the layer's widest input
      bytes = fill(layerBuffers(l), Math.max(c.hiddenSize, c.intermediateSize), seed + 10 + i);
      for (const b of layerBuffers(l)) b.destroy();
    }
    cache.set(group, bytes);
    return bytes;
  };
}
