import { blocksPerRow } from "../format/int4.ts";
import { type Binding, type Dispatch, grid1d, type KernelSource, makeDispatch, uniform } from "../kernel.ts";
import { f16BitsWgsl } from "../quantize/f16_bits.ts";
import codeF16 from "./embedding_f16.wgsl?raw";
import codeF16Vec4 from "./embedding_f16_vec4.wgsl?raw";
import codeF32 from "./embedding_f32.wgsl?raw";
import codeF32Vec4 from "./embedding_f32_vec4.wgsl?raw";
import codeInt4 from "./embedding_int4.wgsl?raw";
import codeInt4Vec4 from "./embedding_int4_vec4.wgsl?raw";
import codeInt8 from "./embedding_int8.wgsl?raw";

const dense = ["uniform", "read-only-storage", "read-only-storage", "storage"] as const;
const int4 = ["uniform", "read-only-storage", "read-only-storage", "read-only-storage", "storage"] as const;

export const embeddingF32Source: KernelSource = { name: "embedding_f32", code: codeF32, bindings: dense };
export const embeddingF32Vec4Source: KernelSource = {
  name: "embedding_f32_vec4",
  code: codeF32Vec4,
  bindings: dense,
};
export const embeddingF16Source: KernelSource = {
  name: "embedding_f16",
  code: `${f16BitsWgsl}\n${codeF16}`,
  bindings: dense,
};
export const embeddingF16Vec4Source: KernelSource = {
  name: "embedding_f16_vec4",
  code: `${f16BitsWgsl}\n${codeF16Vec4}`,
  bindings: dense,
};
export const embeddingInt4Source: KernelSource = {
  name: "embedding_int4",
  code: `${f16BitsWgsl}\n${codeInt4}`,
  bindings: int4,
};
export const embeddingInt4Vec4Source: KernelSource = {
  name: "embedding_int4_vec4",
  code: `${f16BitsWgsl}\n${codeInt4Vec4}`,
  bindings: int4,
};

export const embeddingInt8Source: KernelSource = {
  name: "embedding_int8",
  code: `${f16BitsWgsl}\n${codeInt8}`,
  bindings: int4,
};

export interface EmbeddingShape {
  /** T, tokens gathered per dispatch */
  tokens: number;
  dim: number;
  vocab: number;
  /** Element index of the first id in the ids buffer (default 0). */
  idOffset?: number;
}

export interface EmbeddingVariant {
  /** invocations per workgroup (override WG) */
  wg?: number;
  /**
   * vec4 loads and stores: f32 needs dim % 4 == 0, f16 and int4 dim % 8 == 0 (eight elements per
   * invocation). Default: whenever dim allows; otherwise the scalar kernels (f32: 1, f16: 2, int4: 8
   * elements per invocation). int8 has one kernel (4 elements per invocation): true is refused.
   */
  vec4?: boolean;
}

/**
 * The table, one of:
 *   f32:  (vocab, dim) f32
 *   f16:  (vocab, dim / 2) u32, two f16 per word, element 2i in the low half (dim even)
 *   int4: an INT4 matrix (format/int4.ts) with n = vocab, k = dim (any dim)
 *   int8: an INT8 matrix (format/int8.ts) with n = vocab, k = dim (any dim)
 */
export type EmbeddingTable =
  | { format: "f32"; table: Binding }
  | { format: "f16"; table: Binding }
  | { format: "int4"; qweight: Binding; scales: Binding }
  | { format: "int8"; qweight: Binding; scales: Binding };

/**
 * out[t][:] = table[ids[idOffset + t]][:] for t < tokens, widened exactly to f32.
 *   ids: u32 storage (the sampler's output buffer, so the decode loop never leaves the GPU)
 *   out: (tokens, dim) f32
 * An id >= vocab is never read from the table: its row of out is written as zeros.
 */
export function embedding(
  device: GPUDevice,
  shape: EmbeddingShape,
  io: { ids: Binding; out: Binding } & EmbeddingTable,
  variant: EmbeddingVariant = {},
): Dispatch {
  const wg = variant.wg ?? 256;
  const { tokens, dim, vocab } = shape;
  const idOffset = shape.idOffset ?? 0;
  const label = `embedding_${io.format}.params`;
  if (io.format === "int8") {
    if (variant.vec4) throw new Error("embedding int8: no vec4 kernel (4 elements per invocation already)");
    const kb = blocksPerRow(dim);
    const words = Math.ceil(dim / 4);
    const chunks = Math.ceil(words / wg);
    const params = uniform(device, label, [tokens, dim, vocab, idOffset, kb, words, chunks]);
    return makeDispatch(
      device,
      embeddingInt8Source,
      { WG: wg },
      [params, io.ids, io.qweight, io.scales, io.out],
      grid1d(device, tokens * chunks),
    );
  }
  const width = io.format === "f32" ? 4 : 8;
  const vec4 = variant.vec4 ?? dim % width === 0;
  if (vec4 && dim % width !== 0) throw new Error(`embedding ${io.format} vec4: dim % ${width} != 0 (${dim})`);
  if (io.format === "f16" && dim % 2 !== 0) throw new Error(`embedding f16: dim must be even, got ${dim}`);
  if (io.format === "int4") {
    const kb = blocksPerRow(dim);
    const perRow = vec4 ? dim / 8 : kb * 4;
    const chunks = Math.ceil(perRow / wg);
    const params = uniform(device, label, [tokens, vec4 ? dim / 8 : dim, vocab, idOffset, kb, chunks]);
    return makeDispatch(
      device,
      vec4 ? embeddingInt4Vec4Source : embeddingInt4Source,
      { WG: wg },
      [params, io.ids, io.qweight, io.scales, io.out],
      grid1d(device, tokens * chunks),
    );
  }
  const src =
    io.format === "f32"
      ? vec4
        ? embeddingF32Vec4Source
        : embeddingF32Source
      : vec4
        ? embeddingF16Vec4Source
        : embeddingF16Source;
  // Invocations per token row: the row length in the kernel's table elements (f32, vec4<f32>, u32 or
  // vec4<u32>).
  const units = io.format === "f32" ? (vec4 ? dim / 4 : dim) : vec4 ? dim / 8 : dim / 2;
  const chunks = Math.ceil(units / wg);
  const params = uniform(device, label, [tokens, units, vocab, idOffset, chunks]);
  return makeDispatch(
    device,
    src,
    { WG: wg },
    [params, io.ids, io.table, io.out],
    grid1d(device, tokens * chunks),
  );
}
