import { bf16BitsToF32, f16BitsToF32, halfAt } from "../format/f16.ts";
import { type Int4Matrix, type QuantizeOptions, quantizeInt4 } from "../format/int4.ts";
import type { QuantizeSourceFormat } from "./int4_quantize.ts";

/** Widens the GPU quantizer's source words (f32 bits, or packed f16/bf16) to f32, exactly. */
export function widenSource(words: Uint32Array, format: QuantizeSourceFormat, count: number): Float32Array {
  if (format === "f32") return new Float32Array(words.buffer, words.byteOffset, count).slice();
  const widen = format === "f16" ? f16BitsToF32 : bf16BitsToF32;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = widen(halfAt(words, i));
  return out;
}

/** CPU reference of int4Quantize: the format's own quantizeInt4 on the widened source. */
export function int4QuantizeRef(
  words: Uint32Array,
  format: QuantizeSourceFormat,
  n: number,
  k: number,
  opts: QuantizeOptions = {},
): Int4Matrix {
  return quantizeInt4(widenSource(words, format, n * k), n, k, opts);
}
