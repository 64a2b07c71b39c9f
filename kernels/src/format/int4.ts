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
// so m itself maps to q = 0 exactly and the 16 levels -8..7 are all used.
//
// Scale search (QuantizeOptions.search, what the runtime uses): d0 = f16(m / -8) is only the first
// candidate. The others are d_j = ±f16(|d0|·(32 + j)/32) for j = -8..10 (SEARCH_STEPS), first with
// d0's sign, then the opposite one (m then lands on q = 15 instead of 0); |d0|·(32 + j)/32 is exact in
// f32, so every candidate is exactly defined. For each candidate q follows the rule above, and the
// block keeps the candidate of least importance-weighted squared error Σ_k imp[k]·(x_k − w_k)² (imp:
// per input column, e.g. the square of the RMSNorm weight that scales that input; absent: 1), the
// earliest on equal errors. Blocks holding a non-finite value or with a saturated |d0| = 65504 keep
// d0. The GPU sums the error in f32, this spec in f64: they can pick different candidates only when
// two candidates' errors agree to ~1e-6 (a near-tie: either is a correct result; the tests allow it). Chosen over an asymmetric
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

/** j of the candidate scales |d0|·(32 + j)/32 tried by the scale search (after d0 itself). */
export const SEARCH_STEPS: readonly number[] = Array.from({ length: 19 }, (_, i) => i - 8);

export interface QuantizeOptions {
  /** Search the block scale (see the header); false: d = f16(m / −8), Q4_0's rule. */
  search?: boolean;
  /** Per input column k (length ≥ K), the weight of column k's error in the search; default 1. */
  importance?: ArrayLike<number>;
}

/** q of every value for scale d (f16 bits): clamp(round_half_away(x / d) + 8, 0, 15); all 8 when d is ±0. */
export function quantizeWithScale(values: ArrayLike<number>, scale: number): Uint8Array {
  const d = f16BitsToF32(scale);
  const q = new Uint8Array(BLOCK).fill(8);
  if (d !== 0) {
    for (let i = 0; i < values.length; i++) {
      q[i] = Math.min(15, Math.max(0, roundAway(values[i]! / d) + 8));
    }
  }
  return q;
}

/** Σ imp[i]·(x_i − (q_i − 8)·d)² in f64 (imp absent: 1). */
export function blockError(
  values: ArrayLike<number>,
  q: Uint8Array,
  scale: number,
  importance?: ArrayLike<number>,
): number {
  const d = f16BitsToF32(scale);
  let e = 0;
  for (let i = 0; i < values.length; i++) {
    const r = values[i]! - (q[i]! - 8) * d;
    e += (importance ? importance[i]! : 1) * r * r;
  }
  return e;
}

/** The scales the search tries for a block whose first candidate is d0 (f16 bits), in order, d0 first. */
export function candidateScales(d0: number): number[] {
  const mag = Math.abs(f16BitsToF32(d0));
  const out = [d0];
  for (const sign of [d0 & 0x8000, (d0 & 0x8000) ^ 0x8000]) {
    for (const j of SEARCH_STEPS) {
      if (j === 0 && sign === (d0 & 0x8000)) continue;
      out.push(sign | f32ToF16Bits((mag * (32 + j)) / 32)); // exact in f32: ≤ 17 significant bits
    }
  }
  return out;
}

/**
 * Quantizes one block (≤ 32 values; missing ones are zeros) → [f16 scale bits, q[32]]. `importance`
 * holds the block's own columns (importance[i] for values[i]).
 */
export function quantizeBlock(
  values: ArrayLike<number>,
  opts: { search?: boolean; importance?: ArrayLike<number> } = {},
): { scale: number; q: Uint8Array; error: number } {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (Math.abs(x) > Math.abs(m)) m = x;
  }
  const d0 = f32ToF16Bits(Math.fround(m / -8));
  let best = { scale: d0, q: quantizeWithScale(values, d0), error: 0 };
  let finite = true;
  for (let i = 0; i < values.length; i++) finite &&= Number.isFinite(values[i]!);
  if (!opts.search || !finite || (d0 & 0x7fff) === 0 || (d0 & 0x7fff) === 0x7bff) return best;
  best.error = blockError(values, best.q, d0, opts.importance);
  for (const scale of candidateScales(d0).slice(1)) {
    const q = quantizeWithScale(values, scale);
    const error = blockError(values, q, scale, opts.importance);
    if (error < best.error) best = { scale, q, error };
  }
  return best;
}

/** Quantizes row-major f32 W[n][k] (any source dtype already widened exactly to f32). */
export function quantizeInt4(
  w: ArrayLike<number>,
  n: number,
  k: number,
  opts: QuantizeOptions = {},
): Int4Matrix {
  if (w.length !== n * k) throw new Error(`quantizeInt4: ${w.length} values for ${n}x${k}`);
  if (opts.importance && opts.importance.length < k) {
    throw new Error(`quantizeInt4: ${opts.importance.length} importance values for K = ${k}`);
  }
  const kb = blocksPerRow(k);
  const qweight = new Uint32Array(n * kb * 4);
  const halves = new Uint16Array(n * kb);
  const block = new Float64Array(BLOCK);
  const imp = new Float64Array(BLOCK);
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < kb; b++) {
      const len = Math.min(BLOCK, k - b * BLOCK);
      for (let i = 0; i < len; i++) {
        block[i] = w[row * k + b * BLOCK + i]!;
        imp[i] = opts.importance ? opts.importance[b * BLOCK + i]! : 1;
      }
      const { scale, q } = quantizeBlock(block.subarray(0, len), {
        search: opts.search ?? false,
        importance: imp.subarray(0, len),
      });
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
