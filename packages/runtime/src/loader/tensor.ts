// Tensor descriptions shared by the safetensors and GGUF readers, exact widening to f32, and the
// NaN/Inf scan. Shapes are outermost-first (HF/PyTorch order): a linear layer is [N (out), K (in)],
// row-major, so row n is K contiguous values.

import { f16BitsToF32 } from "@wisp/kernels";
import { ModelFileError } from "../errors.ts";

/** Float dtypes readable from safetensors and GGUF. */
export type FloatDtype = "F32" | "F16" | "BF16";
/** GGUF block formats: blocks of 32 along K (Q8_0: f16 d + 32 int8; Q4_0: f16 d + 16 bytes of nibbles). */
export type QuantDtype = "Q8_0" | "Q4_0";
export type TensorDtype = FloatDtype | QuantDtype;

export interface TensorInfo {
  /** HF name (GGUF names are mapped), e.g. "model.layers.0.self_attn.q_proj.weight". */
  name: string;
  /** Dtype as stored in the file. */
  dtype: TensorDtype;
  /** Outermost-first. */
  shape: number[];
  /** The file (in the FileSource) that holds the bytes. */
  file: string;
  /** Absolute byte offset of the data in `file`. */
  byteOffset: number;
  byteLength: number;
}

export interface TensorData {
  /** Dtype of `data` (may differ from the stored one: GGUF Q8_0 comes back dequantized as F32 unless kept). */
  dtype: TensorDtype;
  shape: number[];
  /** Little-endian element bytes, row-major; for Q4_0 (and kept Q8_0) the raw blocks, rows of K/32 blocks. */
  data: Uint8Array;
}

/** A model's tensors: infos known up front (from headers), bytes read lazily by range. */
export interface TensorSet {
  format: "safetensors" | "gguf";
  tensors: ReadonlyMap<string, TensorInfo>;
  /**
   * `keepBlocks`: a GGUF Q8_0 tensor comes back as its raw blocks (dtype "Q8_0", rows of K/32 blocks
   * of 34 bytes) for a lossless repack (format/int8.ts repackQ8_0) instead of dequantized to F32.
   */
  readTensor(name: string, options?: { keepBlocks?: boolean }): Promise<TensorData>;
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const DTYPE_BYTES: Record<FloatDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Bytes of a tensor of `shape` in `dtype` (block formats: whole blocks of 32 along the last dim). */
export function tensorBytes(dtype: TensorDtype, shape: readonly number[]): number {
  if (dtype === "Q8_0" || dtype === "Q4_0") {
    const k = shape[shape.length - 1] ?? 1;
    const rows = numel(shape) / k;
    return rows * Math.ceil(k / 32) * (dtype === "Q8_0" ? 34 : 18);
  }
  return numel(shape) * DTYPE_BYTES[dtype];
}

let f16Table: Float32Array | undefined;

/** All 65536 f16 values: widening becomes one table lookup per element. */
function f16Lut(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/**
 * Widens little-endian F32/F16/BF16 bytes to a fresh Float32Array, exactly (every f16 and bf16 value
 * is an f32 value). Bytes at any offset are accepted (a copy is made, never a view into `bytes`).
 */
export function toF32(dtype: FloatDtype, bytes: Uint8Array): Float32Array {
  const size = DTYPE_BYTES[dtype];
  if (bytes.length % size !== 0)
    throw new RangeError(`${bytes.length} bytes is not a whole number of ${dtype}`);
  const n = bytes.length / size;
  // slice() copies into a new, aligned ArrayBuffer, so the typed views below are always legal.
  const copy = bytes.slice();
  if (dtype === "F32") return new Float32Array(copy.buffer, 0, n);
  const halves = new Uint16Array(copy.buffer, 0, n);
  const out = new Float32Array(n);
  if (dtype === "F16") {
    const lut = f16Lut();
    for (let i = 0; i < n; i++) out[i] = lut[halves[i]!]!;
  } else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = halves[i]! << 16;
  }
  return out;
}

/** Exact f32 of GGUF Q8_0 blocks: int8 · f16 scale has at most 19 significant bits, so it is exact. */
export function dequantizeQ8_0(raw: Uint8Array, n: number, k: number): Float32Array {
  if (k % 32 !== 0) throw new RangeError(`Q8_0 needs K a multiple of 32, got ${k}`);
  const blocks = (n * k) / 32;
  if (raw.length < blocks * 34) throw new RangeError(`Q8_0: ${raw.length} bytes, need ${blocks * 34}`);
  const out = new Float32Array(n * k);
  for (let b = 0; b < blocks; b++) {
    const o = b * 34;
    const d = f16BitsToF32(raw[o]! | (raw[o + 1]! << 8));
    for (let i = 0; i < 32; i++) out[b * 32 + i] = ((raw[o + 2 + i]! << 24) >> 24) * d;
  }
  return out;
}

/**
 * Raises ModelFileError when a float tensor holds NaN or ±Inf: "NaN-only weights" when every value is
 * NaN (a typical broken export), "non-finite values" otherwise, naming the tensor and the count.
 * Scans raw bits (an exponent of all ones), so no widening is needed for F16/BF16.
 */
export function assertFinite(name: string, dtype: FloatDtype, data: Uint8Array | Float32Array): void {
  let n: number;
  let bad = 0;
  let nan = 0;
  let first = -1;
  const note = (i: number, isNan: boolean) => {
    bad++;
    if (isNan) nan++;
    if (first < 0) first = i;
  };
  if (data instanceof Float32Array || dtype === "F32") {
    // A view when aligned (no copy of a large tensor), a copy otherwise.
    const words =
      data instanceof Float32Array || data.byteOffset % 4 === 0
        ? new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4)
        : new Uint32Array(data.slice().buffer);
    n = words.length;
    for (let i = 0; i < n; i++) {
      const w = words[i]!;
      if ((w & 0x7f800000) === 0x7f800000) note(i, (w & 0x7fffff) !== 0);
    }
  } else {
    const halves =
      data.byteOffset % 2 === 0
        ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
        : new Uint16Array(data.slice().buffer);
    n = halves.length;
    const [expMask, manMask] = dtype === "F16" ? [0x7c00, 0x3ff] : [0x7f80, 0x7f];
    for (let i = 0; i < n; i++) {
      const h = halves[i]!;
      if ((h & expMask) === expMask) note(i, (h & manMask) !== 0);
    }
  }
  if (bad === 0) return;
  if (nan === n) {
    throw new ModelFileError(`tensor "${name}" has NaN-only weights (all ${n} values are NaN)`, {
      kind: "non_finite",
      tensor: name,
      count: n,
    });
  }
  throw new ModelFileError(
    `tensor "${name}" has non-finite values: ${bad} of ${n} are NaN or Inf (first at element ${first})`,
    { kind: "non_finite", tensor: name, count: bad, first },
  );
}
