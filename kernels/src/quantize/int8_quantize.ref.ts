import { type Int8Matrix, quantizeInt8 } from "../format/int8.ts";
import { widenSource } from "./int4_quantize.ref.ts";
import type { QuantizeSourceFormat } from "./int4_quantize.ts";

/** CPU reference of int8Quantize: the format's own quantizeInt8 on the exactly widened source. */
export function int8QuantizeRef(
  words: Uint32Array,
  format: QuantizeSourceFormat,
  n: number,
  k: number,
): Int8Matrix {
  return quantizeInt8(widenSource(words, format, n * k), n, k);
}
