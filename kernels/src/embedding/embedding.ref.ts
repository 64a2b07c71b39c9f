import { f16BitsToF32, halfAt } from "../format/f16.ts";
import { dequantizeInt4, type Int4Matrix } from "../format/int4.ts";
import { dequantizeInt8, type Int8Matrix } from "../format/int8.ts";

/**
 * CPU reference: out[t][:] = table row ids[idOffset + t], zeros for an id >= vocab. `row(id)` gives a
 * table row as exact f32 values; the result is f32 (every format widens exactly).
 */
export function embeddingRef(
  ids: ArrayLike<number>,
  idOffset: number,
  tokens: number,
  dim: number,
  vocab: number,
  row: (id: number) => ArrayLike<number>,
): Float32Array {
  const out = new Float32Array(tokens * dim);
  for (let t = 0; t < tokens; t++) {
    const id = ids[idOffset + t]!;
    if (id < vocab) out.set(row(id), t * dim);
  }
  return out;
}

export const f32Row = (table: Float32Array, dim: number) => (id: number) =>
  table.subarray(id * dim, (id + 1) * dim);

export const f16Row = (packed: Uint32Array, dim: number) => (id: number) =>
  Float32Array.from({ length: dim }, (_, j) => f16BitsToF32(halfAt(packed, id * dim + j)));

/** Rows of dequantizeInt4 ((q - 8)·d, exact in f32). */
export function int4Row(m: Int4Matrix): (id: number) => ArrayLike<number> {
  const all = dequantizeInt4(m);
  return (id) => Float32Array.from(all.subarray(id * m.k, (id + 1) * m.k));
}

/** Rows of dequantizeInt8 (q·d, exact in f32). */
export function int8Row(m: Int8Matrix): (id: number) => ArrayLike<number> {
  const all = dequantizeInt8(m);
  return (id) => Float32Array.from(all.subarray(id * m.k, (id + 1) * m.k));
}
