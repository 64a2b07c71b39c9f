import { blocksPerRow } from "../format/int4.ts";
import { type Binding, type Dispatch, grid1d, type KernelSource, makeDispatch, uniform } from "../kernel.ts";
import { f16BitsWgsl } from "./f16_bits.ts";
import type { QuantizeSourceFormat } from "./int4_quantize.ts";
import code from "./int8_quantize.wgsl?raw";

export const int8QuantizeSource: KernelSource = {
  name: "int8_quantize",
  code: `${f16BitsWgsl}\n${code}`,
  bindings: ["uniform", "read-only-storage", "storage", "storage"],
};

const FORMAT: Record<QuantizeSourceFormat, number> = { f32: 0, f16: 1, bf16: 2 };

export interface Int8QuantizeShape {
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
   * at the word holding the qweight binding's first block (bind both from the same even block).
   */
  dstBlockOffset?: number;
}

/**
 * Quantizes row-major src (rows, k) into the INT8 format of format/int8.ts, bit for bit equal to
 * quantizeInt8 of the source widened exactly to f32 (f16 subnormals included).
 *   src: f32 (rows·k) or packed f16/bf16 (ceil(rows·k / 2)) u32 words, from srcElemOffset on
 *   qweight: (rows·kb·2) vec4<u32> and scales: ceil(rows·kb / 2) u32, from dstBlockOffset on
 * A matrix larger than one binding is quantized per row range exactly as int4Quantize describes (r0·kb
 * even); output bindings at a byte offset B·32 (qweight) and B·2 (scales) for block B need B a
 * multiple of 128 to meet the 256-byte offset alignment.
 */
export function int8Quantize(
  device: GPUDevice,
  shape: Int8QuantizeShape,
  io: { src: Binding; qweight: Binding; scales: Binding },
  variant: { wg?: number } = {},
): Dispatch {
  const wg = variant.wg ?? 64;
  const kb = blocksPerRow(shape.k);
  const dst0 = shape.dstBlockOffset ?? 0;
  if (dst0 % 2 !== 0) throw new Error(`int8Quantize: dstBlockOffset must be even, got ${dst0}`);
  if (!(shape.rows >= 1) || !(shape.k >= 1))
    throw new Error(`int8Quantize: empty matrix ${shape.rows}x${shape.k}`);
  const params = uniform(device, "int8_quantize.params", [
    shape.rows,
    shape.k,
    kb,
    shape.srcElemOffset ?? 0,
    dst0,
  ]);
  const pairs = Math.ceil((shape.rows * kb) / 2);
  return makeDispatch(
    device,
    int8QuantizeSource,
    { WG: wg, FORMAT: FORMAT[shape.format] },
    [params, io.src, io.qweight, io.scales],
    grid1d(device, Math.ceil(pairs / wg)),
  );
}
