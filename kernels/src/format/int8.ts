// The INT8 weight format — this file is its specification. Used for the lm_head (and a tied
// embedding/lm_head table) when the rest of the model is INT4: the output projection is the matrix
// 4 bits hurt most (ARCHITECTURE.md "INT4 quality"; llama.cpp's 4-bit mixes keep output.weight at
// 6–8 bits for the same reason).
//
// A weight matrix W has N rows (outputs) and K columns (inputs); y = W x. Along K each row is cut into
// kb = ceil(K/32) blocks of 32, a short last block padded with zeros (as format/int4.ts).
//
// Symmetric quantization, one f16 scale per block (8.5 bits per weight):
//   a = the block's largest magnitude |x| (NaN skipped; ±Inf counts as Inf)
//   d = f16(a / 127)                 the f16 nearest to the exact quotient, ties to even; ≥ 65504
//                                    saturates to 65504 (Inf included). Decided exactly: 127·h and
//                                    127·(midpoint of two f16) have ≤ 20 significant bits, so the
//                                    comparisons with a are exact in f32 and f64 alike. (The same as
//                                    f32ToF16Bits(fround(a / 127)) — a correctly rounded f32 quotient
//                                    cannot land on a midpoint it is not — but not as a·f32(1/127).)
//   q = clamp(round(x / d), -127, 127) round half away from zero; q = 0 for every x when d == 0, and
//                                    for NaN; ±Inf → ±127
//   w = q · d                         dequantized weight (exact in f32: ≤ 19 significant bits)
// d ≥ 0 always. When d rounds below a/127, a/d may round to 128: the clamp keeps 127. GGUF Q8_0 is
// this layout's content exactly (f16 d + 32 int8, w = q·d), so it repacks losslessly; its q may be -128
// (the format allows it, llama.cpp's quantizer never writes it), which every reader here handles.
//
// Storage (two arrays):
//   qweight: u32[N · kb · 8]   block (n, b) is the 2 vec4<u32> at vec4 index 2(n·kb + b) and +1 (32
//                              contiguous bytes, row-major by block); byte i of its word w is
//                              k = 32b + 4w + i as a two's-complement int8 (the GGUF Q8_0 byte order)
//   scales:  u32[ceil(N·kb / 2)] the f16 bits of block s = n·kb + b in the low half of word s>>1 when s
//                              is even, the high half when odd (as format/int4.ts)
// Why this order: a GEMV lane reads a 16-byte half block (its vec4), and neighbouring lanes read
// neighbouring half blocks of one row, so every load instruction of a warp is one contiguous run
// (with one lane per 32-byte block, a warp's vec4 loads would stride 32 bytes and use half of every
// sector per instruction). The two lanes of a block load the same scale word (a broadcast). The
// embedding gather reads one word (4 elements) per invocation. Keeping GGUF's byte order makes the
// repack a copy.

import { f16BitsToF32, halfAt, packHalves } from "./f16.ts";
import { BLOCK, blocksPerRow } from "./int4.ts";

export interface Int8Matrix {
  n: number;
  k: number;
  /** blocks per row = ceil(k / 32) */
  kb: number;
  /** (n·kb·8) u32: 32 int8 per block */
  qweight: Uint32Array;
  /** (ceil(n·kb / 2)) u32: packed f16 scales */
  scales: Uint32Array;
}

/** The largest finite f16 (bits 0x7bff) times 127: any a ≥ this has d = 65504. */
export const INT8_SATURATE = 127 * 65504;

/** Bytes a matrix occupies on the GPU (both arrays, as allocated: scales padded to whole words). */
export function int8Bytes(n: number, k: number): number {
  const kb = blocksPerRow(k);
  return n * kb * 32 + Math.ceil((n * kb) / 2) * 4;
}

/** round(v) with ties away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * f16 bits of d = f16(a / 127) for a magnitude a ≥ 0 (the header's rule): the nearest f16 by exact
 * comparison of a with 127·(midpoints), ties to the even significand, saturating at 65504.
 */
export function int8ScaleBits(a: number): number {
  if (!(a > 0)) return 0; // 0 (and an all-NaN block)
  if (a >= INT8_SATURATE) return 0x7bff;
  // Binary search over the positive f16 bit patterns (ordered like their values) for the last h with
  // 127·h ≤ a; then round between h and h + 1 at their midpoint.
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (127 * f16BitsToF32(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  const half = (127 * (f16BitsToF32(lo) + f16BitsToF32(lo + 1))) / 2; // exact: ≤ 20 significant bits
  if (a > half || (a === half && (lo & 1) === 1)) return lo + 1;
  return lo;
}

/** q of a value for scale d (f16 bits): clamp(round_half_away(x / d), −127, 127); 0 for NaN or d == 0. */
export function quantizeValue8(x: number, scale: number): number {
  const d = f16BitsToF32(scale);
  if (d === 0 || Number.isNaN(x)) return 0;
  // x / d in f64 is exact enough: x has ≤ 24 significant bits and d ≤ 11, so the quotient is either a
  // half-integer exactly or at least 2^-25 relative away from one (far above f64's rounding).
  return Math.min(127, Math.max(-127, roundAway(x / d)));
}

/** Quantizes one block (≤ 32 values; missing ones are zeros) → [f16 scale bits, q[32]]. */
export function quantizeBlock8(values: ArrayLike<number>): { scale: number; q: Int8Array } {
  let a = 0;
  for (let i = 0; i < values.length; i++) {
    const m = Math.abs(values[i]!);
    if (m > a) a = m; // NaN never wins
  }
  const scale = int8ScaleBits(a);
  const q = new Int8Array(BLOCK);
  for (let i = 0; i < values.length; i++) q[i] = quantizeValue8(values[i]!, scale);
  return { scale, q };
}

/** Quantizes row-major f32 W[n][k] (any source dtype already widened exactly to f32). */
export function quantizeInt8(w: ArrayLike<number>, n: number, k: number): Int8Matrix {
  if (w.length !== n * k) throw new Error(`quantizeInt8: ${w.length} values for ${n}x${k}`);
  const kb = blocksPerRow(k);
  const bytes = new Uint8Array(n * kb * 32);
  const halves = new Uint16Array(n * kb);
  const block = new Float64Array(BLOCK);
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < kb; b++) {
      const len = Math.min(BLOCK, k - b * BLOCK);
      for (let i = 0; i < len; i++) block[i] = w[row * k + b * BLOCK + i]!;
      const { scale, q } = quantizeBlock8(block.subarray(0, len));
      const s = row * kb + b;
      halves[s] = scale;
      bytes.set(new Uint8Array(q.buffer), s * 32);
    }
  }
  return { n, k, kb, qweight: wordsOf(bytes), scales: packHalves(halves) };
}

/** Little-endian u32 words of a byte array whose length is a multiple of 4 (byte i → word i>>2). */
function wordsOf(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) {
    out[i] =
      (bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)) >>>
      0;
  }
  return out;
}

/** q (−128..127) of element (row, col). */
export function int8Value(m: Int8Matrix, row: number, col: number): number {
  const b = Math.floor(col / BLOCK);
  const i = col % BLOCK;
  const word = m.qweight[(row * m.kb + b) * 8 + (i >> 2)]!;
  return (word << (24 - (i & 3) * 8)) >> 24;
}

export function int8Scale(m: Int8Matrix, row: number, b: number): number {
  return f16BitsToF32(halfAt(m.scales, row * m.kb + b));
}

/** Dequantizes to row-major f64 W[n][k] (padding dropped); q·d is exact. */
export function dequantizeInt8(m: Int8Matrix): Float64Array {
  const out = new Float64Array(m.n * m.k);
  for (let row = 0; row < m.n; row++) {
    for (let col = 0; col < m.k; col++) {
      out[row * m.k + col] = int8Value(m, row, col) * int8Scale(m, row, Math.floor(col / BLOCK));
    }
  }
  return out;
}

/**
 * Repacks GGUF Q8_0 (per block of 32: f16 d, then 32 int8 q in k order; w = q·d) into this layout,
 * losslessly (a copy). `raw` is the tensor's bytes, rows of k/32 blocks of 34 bytes.
 */
export function repackQ8_0(raw: Uint8Array, n: number, k: number): Int8Matrix {
  if (k % BLOCK !== 0) throw new Error(`Q8_0 needs K a multiple of 32, got ${k}`);
  const kb = k / BLOCK;
  if (raw.length < n * kb * 34) throw new Error(`Q8_0: ${raw.length} bytes, need ${n * kb * 34}`);
  const bytes = new Uint8Array(n * kb * 32);
  const halves = new Uint16Array(n * kb);
  for (let s = 0; s < n * kb; s++) {
    const o = s * 34;
    halves[s] = raw[o]! | (raw[o + 1]! << 8);
    bytes.set(raw.subarray(o + 2, o + 34), s * 32);
  }
  return { n, k, kb, qweight: wordsOf(bytes), scales: packHalves(halves) };
}
