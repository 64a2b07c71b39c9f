// RoPE frequencies on the CPU, as transformers' rope init computes them (but in f64, rounded once to
// f32), and the fixed-point phase table the ropeKvAppend kernel reads.
//
// Angle of rotation pair i at position p: p · invFreq[i], with invFreq the f32 values of ropeInvFreq.
// WGSL guarantees sin/cos only inside [-π, π] (2^-11 absolute), and an f32 angle p·invFreq already
// carries ~|angle|·2^-24 of error (2.4e-4 rad at p = 4096), so the kernel never forms the angle in
// f32: it reads invFreq[i] / 2π as a 64-bit fixed-point fraction of a turn and gets the phase of p
// modulo one turn with u32 arithmetic, exact up to ~2^-28 turn for any u32 position.

export type RopeScaling =
  | { type: "linear"; factor: number }
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface RopeConfig {
  /** Rotated dimensions per head (the whole head: partial rotary is not supported). */
  headDim: number;
  /** rope_theta */
  theta: number;
  scaling?: RopeScaling;
}

/** invFreq (headDim/2) in f64: transformers' _compute_default/_linear/_llama3 rope parameters. */
export function ropeInvFreqF64(config: RopeConfig): Float64Array {
  const { headDim, theta, scaling } = config;
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new Error(`ropeInvFreq: headDim ${headDim} must be a positive even integer`);
  }
  const half = headDim / 2;
  const inv = new Float64Array(half);
  // transformers: 1 / base^(arange(0, dim, 2) / dim)
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (!scaling) return inv;
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = inv[i]! / scaling.factor;
    return inv;
  }
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: orig } = scaling;
  const lowFreqWavelen = orig / low;
  const highFreqWavelen = orig / high;
  for (let i = 0; i < half; i++) {
    const f = inv[i]!;
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) continue; // high frequency: unchanged
    if (wavelen > lowFreqWavelen) {
      inv[i] = f / factor; // low frequency: interpolated by factor
    } else {
      const smooth = (orig / wavelen - low) / (high - low);
      inv[i] = ((1 - smooth) * f) / factor + smooth * f;
    }
  }
  return inv;
}

/** invFreq (headDim/2) f32: the f64 values above rounded once. */
export function ropeInvFreq(config: RopeConfig): Float32Array {
  return Float32Array.from(ropeInvFreqF64(config));
}

const TWO_32 = 4294967296;

/**
 * The kernel's phase table, (2, headDim/2) u32: row 0 the high word, row 1 the low word of
 * frac(invFreq[i] / 2π) as a 0.64 fixed-point fraction of a turn (turns per position). The phase of
 * position p is (p · table) mod 2^64, i.e. exactly p · invFreq[i] mod 2π up to the f64 rounding of
 * invFreq[i] / 2π (relative 2^-52: < 1e-9 turn for p < 2^20).
 */
export function ropePhaseTable(invFreq: ArrayLike<number>): Uint32Array<ArrayBuffer> {
  const half = invFreq.length;
  const out = new Uint32Array(2 * half);
  for (let i = 0; i < half; i++) {
    let turns = invFreq[i]! / (2 * Math.PI);
    turns -= Math.floor(turns);
    // Each step is exact in f64: scaling by 2^32 and subtracting the integer part lose nothing.
    const a = turns * TWO_32;
    const hi = Math.floor(a);
    const lo = Math.floor((a - hi) * TWO_32);
    out[i] = hi;
    out[half + i] = lo;
  }
  return out;
}
