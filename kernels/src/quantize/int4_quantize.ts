import { blocksPerRow } from "../format/int4.ts";
import { type Binding, type Dispatch, grid1d, type KernelSource, makeDispatch, uniform } from "../kernel.ts";
import { f16BitsWgsl } from "./f16_bits.ts";
import code from "./int4_quantize.wgsl?raw";

export const int4QuantizeSource: KernelSource = {
  name: "int4_quantize",
  code: `${f16BitsWgsl}\n${code}`,
  bindings: ["uniform", "read-only-storage", "storage", "storage", "read-only-storage"],
};

/** A 16-byte placeholder for the importance binding when the search is off (never read). */
const unusedImportance = new WeakMap<GPUDevice, GPUBuffer>();
function placeholder(device: GPUDevice): GPUBuffer {
  let b = unusedImportance.get(device);
  if (!b) {
    b = device.createBuffer({
      label: "int4_quantize.no-importance",
      size: 16,
      usage: GPUBufferUsage.STORAGE,
    });
    unusedImportance.set(device, b);
  }
  return b;
}

/** Source element type; f16 and bf16 are packed two per u32, element 2i in the low half. */
export type QuantizeSourceFormat = "f32" | "f16" | "bf16";
const FORMAT: Record<QuantizeSourceFormat, number> = { f32: 0, f16: 1, bf16: 2 };

export interface Int4QuantizeShape {
  /** rows quantized by this dispatch */
  rows: number;
  /** K, the row length (any; padded to whole blocks of 32 with zeros) */
  k: number;
  format: QuantizeSourceFormat;
  /** Element index, within the src binding, of this dispatch's first element (default 0). */
  srcElemOffset?: number;
  /**
   * Block index, within the qweight binding, of this dispatch's first block (default 0); must be even
   * so that no scales word is shared with a block outside the dispatch. The scales binding must start
   * at the word holding the qweight binding's first block (i.e. bind both from the same even block).
   */
  dstBlockOffset?: number;
  /**
   * The scale search of format/int4.ts (quantizeInt4 with `search: true`); needs io.importance, f32
   * per input column (K values; all ones for an unweighted search). Default false: Q4_0's rule.
   */
  search?: boolean;
}

export interface Int4QuantizeVariant {
  /** invocations per workgroup (override WG); each invocation quantizes two blocks */
  wg?: number;
}

/**
 * Quantizes row-major src (rows, k) into the INT4 format of format/int4.ts, bit for bit equal to
 * quantizeInt4 of the source widened exactly to f32 (f16 subnormals included); with `search`, equal
 * except that a near-tie between two candidate scales (errors equal to ~1e-6) may resolve either way.
 *   src: f32 (rows·k) or packed f16/bf16 (ceil(rows·k / 2)) u32 words, from srcElemOffset on
 *   qweight: (rows·kb) vec4<u32> and scales: ceil(rows·kb / 2) u32, from dstBlockOffset on
 *
 * Splitting a matrix that exceeds a binding (maxStorageBufferBindingSize, 128 MiB by default): call
 * once per row range [r0, r1), every r0 with r0·kb even (any r0 when kb is even, even r0 otherwise),
 * rows = r1 - r0, src = the range's source words (srcElemOffset = element index of (r0, 0) in that
 * binding, e.g. 1 for an f16 range whose first element sits in a high half) and dstBlockOffset =
 * r0·kb - (first block of the qweight binding). Output bindings at a byte offset B·16 (qweight) and B·2
 * (scales) for block B need B a multiple of 128 to meet the 256-byte offset alignment.
 */
export function int4Quantize(
  device: GPUDevice,
  shape: Int4QuantizeShape,
  io: { src: Binding; qweight: Binding; scales: Binding; importance?: Binding },
  variant: Int4QuantizeVariant = {},
): Dispatch {
  const wg = variant.wg ?? 64;
  const kb = blocksPerRow(shape.k);
  const dst0 = shape.dstBlockOffset ?? 0;
  if (dst0 % 2 !== 0) throw new Error(`int4Quantize: dstBlockOffset must be even, got ${dst0}`);
  if (shape.rows < 1 || shape.k < 1) throw new Error(`int4Quantize: empty matrix ${shape.rows}x${shape.k}`);
  if (shape.search && !io.importance)
    throw new Error("int4Quantize: the scale search needs importance (K f32)");
  const params = uniform(device, "int4_quantize.params", [
    shape.rows,
    shape.k,
    kb,
    shape.srcElemOffset ?? 0,
    dst0,
  ]);
  const pairs = Math.ceil((shape.rows * kb) / 2);
  return makeDispatch(
    device,
    int4QuantizeSource,
    { WG: wg, FORMAT: FORMAT[shape.format], SEARCH: shape.search ? 1 : 0 },
    [params, io.src, io.qweight, io.scales, io.importance ?? placeholder(device)],
    grid1d(device, Math.ceil(pairs / wg)),
  );
}
