// Exact f32 <-> f16/bf16 bit conversions. The GPU quantizer mirrors these with integer arithmetic so
// that CPU and GPU agree bit for bit (WGSL leaves pack2x16float's rounding to the implementation).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function bitsF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/** f32 -> f16 bits, round to nearest even; overflow saturates to the largest finite f16 (65504). */
export function f32ToF16Bits(x: number): number {
  const b = f32Bits(x);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const man = b & 0x7fffff;
  if (exp === 0xff) return sign | (man ? 0x7e00 : 0x7bff); // NaN stays NaN; Inf saturates
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7bff;
  if (e <= 0) {
    // f16 subnormal (or zero): shift the full significand, round to nearest even.
    if (e < -10) return sign;
    const full = man | 0x800000;
    const shift = 14 - e; // 14..24
    const q = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const up = rem > half || (rem === half && (q & 1) === 1) ? 1 : 0;
    return sign | (q + up);
  }
  const q = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  const up = rem > 0x1000 || (rem === 0x1000 && (q & 1) === 1) ? 1 : 0;
  const r = q + up; // a carry into the exponent is the correct rounding
  return sign | (r >= 0x7c00 ? 0x7bff : r);
}

/** f16 bits -> f32 value, exact (subnormals included). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

export function bf16BitsToF32(h: number): number {
  return bitsF32((h & 0xffff) << 16);
}

/** f32 -> bf16 bits, round to nearest even (used to make bf16 test inputs). */
export function f32ToBf16Bits(x: number): number {
  const b = f32Bits(x);
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Packs u16 values two per u32 word (element 2i in the low half), as WGSL unpack2x16float reads them. */
export function packHalves(halves: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(Math.ceil(halves.length / 2));
  for (let i = 0; i < halves.length; i++) out[i >> 1]! |= (halves[i]! & 0xffff) << ((i & 1) * 16);
  return out;
}

export function halfAt(words: Uint32Array, i: number): number {
  return (words[i >> 1]! >>> ((i & 1) * 16)) & 0xffff;
}
