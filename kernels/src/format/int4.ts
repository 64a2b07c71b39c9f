// The INT4 weight format — this file is its specification.
//
// A weight matrix W has N rows (outputs) and K columns (inputs); y = W x, y[n] = Σ_k W[n][k]·x[k].
// Along K, each row is cut into kb = ceil(K/32) blocks of 32; a short last block is padded with
// zeros (K = 172 → kb = 6, the last block holds 12 real weights and 20 zeros).
//
// Symmetric quantization, one f16 scale per block (4.5 bits per weight):
//   m  = the block's element of largest magnitude (the first one on ties, in k order)
//   d  = f16(m / -8)                   round to nearest even; m / -8 is exact in f32
//   q  = clamp(round(x / d) + 8, 0, 15) round half away from zero; q = 8 for every x when d == 0
//                                      (an all-zero block has d = f16(-0) = 0x8000)
//   w  = (q - 8) · d                   dequantized weight
// so m itself maps to q = 0 exactly and the 16 levels -8..7 are all used. Chosen over an asymmetric
// scale+min scheme by measurement on stories260K (kernels/tools/quant-error.ts): the min lowers the
// relative RMS error only 4% over the model (0.0816 vs 0.0852) while costing 11% more bytes per
// weight, and decode speed is bytes. GGUF Q4_0 is this scheme with another nibble order, so it
// repacks losslessly.
//
// Storage (two arrays, chosen for coalesced GEMV reads: neighbouring threads read neighbouring
// 16-byte blocks of one row):
//   qweight: u32[N · kb · 4]   block (n, b) is the vec4<u32> at index n·kb + b; its word w holds
//                              k = 32b + 8w + i (i = 0..7) in bits 4i..4i+3
//   scales:  u32[ceil(N·kb / 2)] the f16 bits of block s = n·kb + b in the low half of word s>>1
//                              when s is even, the high half when odd

import { f16BitsToF32, f32ToF16Bits, halfAt, packHalves } from "./f16.ts";

export const BLOCK = 32;

export interface Int4Matrix {
  n: number;
  k: number;
  /** blocks per row = ceil(k / 32) */
  kb: number;
  qweight: Uint32Array;
  scales: Uint32Array;
}

export const blocksPerRow = (k: number): number => Math.ceil(k / BLOCK);

/** Bytes a matrix occupies on the GPU (both arrays, as allocated: scales padded to whole words). */
export function int4Bytes(n: number, k: number): number {
  const kb = blocksPerRow(k);
  return n * kb * 16 + Math.ceil((n * kb) / 2) * 4;
}

/** round(v) with ties away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** Quantizes one block (≤ 32 values; missing ones are zeros) → [f16 scale bits, q[32]]. */
export function quantizeBlock(values: ArrayLike<number>): { scale: number; q: Uint8Array } {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (Math.abs(x) > Math.abs(m)) m = x;
  }
  const scale = f32ToF16Bits(Math.fround(m / -8));
  const d = f16BitsToF32(scale);
  const q = new Uint8Array(BLOCK).fill(8);
  if (d !== 0) {
    for (let i = 0; i < values.length; i++) {
      q[i] = Math.min(15, Math.max(0, roundAway(values[i]! / d) + 8));
    }
  }
  return { scale, q };
}

/** Quantizes row-major f32 W[n][k] (any source dtype already widened exactly to f32). */
export function quantizeInt4(w: ArrayLike<number>, n: number, k: number): Int4Matrix {
  if (w.length !== n * k) throw new Error(`quantizeInt4: ${w.length} values for ${n}x${k}`);
  const kb = blocksPerRow(k);
  const qweight = new Uint32Array(n * kb * 4);
  const halves = new Uint16Array(n * kb);
  const block = new Float64Array(BLOCK);
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < kb; b++) {
      const len = Math.min(BLOCK, k - b * BLOCK);
      for (let i = 0; i < len; i++) block[i] = w[row * k + b * BLOCK + i]!;
      const { scale, q } = quantizeBlock(block.subarray(0, len));
      const s = row * kb + b;
      halves[s] = scale;
      for (let i = 0; i < BLOCK; i++) qweight[s * 4 + (i >> 3)]! |= q[i]! << ((i & 7) * 4);
    }
  }
  return { n, k, kb, qweight, scales: packHalves(halves) };
}

export function int4Nibble(m: Int4Matrix, row: number, col: number): number {
  const b = Math.floor(col / BLOCK);
  const i = col % BLOCK;
  return (m.qweight[(row * m.kb + b) * 4 + (i >> 3)]! >>> ((i & 7) * 4)) & 0xf;
}

export function int4Scale(m: Int4Matrix, row: number, b: number): number {
  return f16BitsToF32(halfAt(m.scales, row * m.kb + b));
}

/** Dequantizes to row-major f64 W[n][k] (padding dropped). */
export function dequantizeInt4(m: Int4Matrix): Float64Array {
  const out = new Float64Array(m.n * m.k);
  for (let row = 0; row < m.n; row++) {
    for (let col = 0; col < m.k; col++) {
      out[row * m.k + col] = (int4Nibble(m, row, col) - 8) * int4Scale(m, row, Math.floor(col / BLOCK));
    }
  }
  return out;
}

/**
 * Repacks GGUF Q4_0 (per block of 32: f16 d, then 16 bytes where byte j holds element j in its low
 * nibble and element j+16 in its high nibble; w = (q - 8)·d) into this layout, losslessly.
 * `raw` is the tensor's bytes, rows of ceil(k/32) blocks of 18 bytes.
 */
export function repackQ4_0(raw: Uint8Array, n: number, k: number): Int4Matrix {
  if (k % BLOCK !== 0) throw new Error(`Q4_0 needs K a multiple of 32, got ${k}`);
  const kb = k / BLOCK;
  if (raw.length < n * kb * 18) throw new Error(`Q4_0: ${raw.length} bytes, need ${n * kb * 18}`);
  const qweight = new Uint32Array(n * kb * 4);
  const halves = new Uint16Array(n * kb);
  for (let s = 0; s < n * kb; s++) {
    const o = s * 18;
    halves[s] = raw[o]! | (raw[o + 1]! << 8);
    for (let j = 0; j < 16; j++) {
      const byte = raw[o + 2 + j]!;
      const lo = byte & 0xf;
      const hi = byte >>> 4;
      qweight[s * 4 + (j >> 3)]! |= lo << ((j & 7) * 4);
      qweight[s * 4 + ((j + 16) >> 3)]! |= hi << (((j + 16) & 7) * 4);
    }
  }
  return { n, k, kb, qweight, scales: packHalves(halves) };
}
