// Measures the INT4 format's quantization error on real weights, against the asymmetric
// (scale + min, Q4_1-like) alternative, to justify the format choice documented in format/int4.ts.
import { f16BitsToF32, f32ToF16Bits } from "../src/format/f16.ts";
import { BLOCK, dequantizeInt4, quantizeInt4 } from "../src/format/int4.ts";

export interface QuantError {
  tensors: number;
  /** relative RMS error over all 2-D tensors: sqrt(Σ err² / Σ w²) */
  symmetric: number;
  asymmetric: number;
}

const f16 = (x: number): number => f16BitsToF32(f32ToF16Bits(x));

/** The rejected alternative: per block d = f16((max − min)/15), m = f16(min), w ≈ q·d + m. */
function asymmetricSquaredError(w: Float32Array, n: number, k: number): number {
  let err = 0;
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < k; b += BLOCK) {
      const end = Math.min(k, b + BLOCK);
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let i = b; i < end; i++) {
        lo = Math.min(lo, w[row * k + i]!);
        hi = Math.max(hi, w[row * k + i]!);
      }
      const d = f16((hi - lo) / 15);
      const m = f16(lo);
      for (let i = b; i < end; i++) {
        const x = w[row * k + i]!;
        const q = d === 0 ? 0 : Math.min(15, Math.max(0, Math.round((x - m) / d)));
        err += (x - (q * d + m)) ** 2;
      }
    }
  }
  return err;
}

/** All 2-D F32 tensors of a safetensors file (the tiny header parse this tool needs). */
export function quantErrorOfSafetensors(bytes: Uint8Array): QuantError {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  let sym = 0;
  let asym = 0;
  let norm = 0;
  let tensors = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__" || t.dtype !== "F32" || t.shape.length !== 2) continue;
    const [n, k] = t.shape as [number, number];
    const start = 8 + headerLen + t.data_offsets[0];
    const w = new Float32Array(bytes.slice(start, start + n * k * 4).buffer);
    const deq = dequantizeInt4(quantizeInt4(w, n, k));
    for (let i = 0; i < w.length; i++) {
      sym += (w[i]! - deq[i]!) ** 2;
      norm += w[i]! ** 2;
    }
    asym += asymmetricSquaredError(w, n, k);
    tensors++;
  }
  return { tensors, symmetric: Math.sqrt(sym / norm), asymmetric: Math.sqrt(asym / norm) };
}
