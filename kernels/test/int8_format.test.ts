// The INT8 format's CPU spec (no GPU): the scale's exact f16 rounding, block quantization edge cases,
// padding, and the lossless GGUF Q8_0 repack.
import { randomNormalF32, rng } from "@wisp/gpu-test";
import { describe, expect, it } from "vitest";
import { bitsF32, f16BitsToF32, f32Bits, f32ToF16Bits } from "../src/format/f16.ts";
import {
  dequantizeInt8,
  INT8_SATURATE,
  int8Bytes,
  int8Scale,
  int8ScaleBits,
  int8Value,
  quantizeBlock8,
  quantizeInt8,
  repackQ8_0,
} from "../src/format/int8.ts";

const nextUp = (x: number) => bitsF32(f32Bits(x) + 1);
const nextDown = (x: number) => bitsF32(f32Bits(x) - 1);

/** The f16 nearest to a/127 by brute force over every finite positive f16 (ties to even), saturating. */
function bruteScale(a: number): number {
  let best = 0;
  let bestErr = Number.POSITIVE_INFINITY;
  for (let h = 0; h <= 0x7bff; h++) {
    const err = Math.abs(127 * f16BitsToF32(h) - a); // exact: both sides ≤ 24 significant bits apart
    if (err < bestErr || (err === bestErr && (h & 1) === 0)) {
      best = h;
      bestErr = err;
    }
  }
  return best;
}

describe("INT8 scale: d = f16(a / 127), exactly", () => {
  it("exact quotients, zero, saturation", () => {
    expect(int8ScaleBits(127)).toBe(0x3c00);
    expect(int8ScaleBits(0)).toBe(0);
    expect(int8ScaleBits(Number.POSITIVE_INFINITY)).toBe(0x7bff);
    expect(int8ScaleBits(INT8_SATURATE)).toBe(0x7bff);
    expect(int8ScaleBits(1e30)).toBe(0x7bff);
    expect(int8ScaleBits(127 * 2 ** -24)).toBe(1); // the smallest subnormal
    expect(int8ScaleBits(127 * 2 ** -26)).toBe(0); // below half of it
  });
  it("ties go to the even significand, both in the normal and the subnormal range", () => {
    // midpoint of 1 (0x3c00, even) and 1 + 2^-10 (odd) → 1; of 1 + 2^-10 and 1 + 2^-9 (even) → up
    expect(int8ScaleBits(127 * (1 + 2 ** -11))).toBe(0x3c00);
    expect(int8ScaleBits(nextUp(127 * (1 + 2 ** -11)))).toBe(0x3c01);
    expect(int8ScaleBits(127 * (1 + 3 * 2 ** -11))).toBe(0x3c02);
    expect(int8ScaleBits(nextDown(127 * (1 + 3 * 2 ** -11)))).toBe(0x3c01);
    expect(int8ScaleBits(127 * 2 ** -25)).toBe(0); // between 0 and 2^-24 → 0 (even)
    expect(int8ScaleBits(127 * 3 * 2 ** -25)).toBe(2);
    // the subnormal/normal boundary: between 0x3ff and 0x400
    expect(int8ScaleBits(127 * (2 ** -14 - 2 ** -25))).toBe(0x400);
  });
  it("equals the brute-force nearest f16 on random and adversarial maxima", () => {
    const r = rng(7);
    const as: number[] = [];
    for (let i = 0; i < 300; i++) as.push(Math.fround(2 ** (r() * 50 - 30) * (1 + r())));
    for (let i = 0; i < 100; i++) {
      // exact midpoints times 127 and their f32 neighbours
      const h = 1 + Math.floor(r() * 0x7bfe);
      const mid = (127 * (f16BitsToF32(h) + f16BitsToF32(h + 1))) / 2;
      as.push(mid, nextUp(mid), nextDown(mid));
    }
    for (const a of as) expect(int8ScaleBits(a), `a = ${a}`).toBe(bruteScale(a));
  });
  it("f16(f32(a / 127)) agrees; f16(a · f32(1/127)), a GPU's estimate, does not (so the kernel corrects it)", () => {
    // Near every f16 midpoint: a correctly rounded f32 quotient can only land on a 12-bit midpoint when
    // a/127 is one, so rounding twice is harmless; a multiply by the rounded reciprocal (about one ulp
    // off) lands on or across midpoints now and then.
    const r = rng(11);
    const inv = Math.fround(1 / 127);
    let wrongMul = 0;
    for (let i = 0; i < 1000; i++) {
      const h = 1 + Math.floor(r() * 0x7bf0);
      const mid = (127 * (f16BitsToF32(h) + f16BitsToF32(h + 1))) / 2;
      for (let j = -40; j <= 40; j++) {
        const a = bitsF32(f32Bits(mid) + j);
        expect(f32ToF16Bits(Math.fround(a / 127))).toBe(int8ScaleBits(a));
        if (f32ToF16Bits(Math.fround(a * inv)) !== int8ScaleBits(a)) wrongMul++;
      }
    }
    expect(wrongMul).toBeGreaterThan(0);
  });
});

describe("INT8 block quantization", () => {
  it("maps the largest magnitude to ±127 and rounds ties away from zero", () => {
    const { scale, q } = quantizeBlock8([127, -63.5, 0.5, -0.5, 1.5, -2.5, 0]);
    expect(scale).toBe(0x3c00);
    expect([...q.subarray(0, 7)]).toEqual([127, -64, 1, -1, 2, -3, 0]);
    expect([...q.subarray(7)].every((v) => v === 0)).toBe(true); // padding
    const neg = quantizeBlock8([-254, 100]);
    expect(f16BitsToF32(neg.scale)).toBe(2); // d ≥ 0 always
    expect([...neg.q.subarray(0, 2)]).toEqual([-127, 50]);
  });
  it("an all-zero block has d = 0 and q = 0; NaN is skipped and quantizes to 0; ±Inf saturate", () => {
    const z = quantizeBlock8(new Float64Array(32));
    expect(z.scale).toBe(0);
    expect([...z.q].every((v) => v === 0)).toBe(true);
    const nan = quantizeBlock8([Number.NaN, 12.7, -1.27]);
    expect(f16BitsToF32(nan.scale)).toBe(f16BitsToF32(f32ToF16Bits(0.1)));
    expect(nan.q[0]).toBe(0);
    const inf = quantizeBlock8([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e6, -1]);
    expect(inf.scale).toBe(0x7bff);
    expect([...inf.q.subarray(0, 4)]).toEqual([127, -127, 15, 0]);
  });
  it("clamps when the f16 scale rounds far below a/127 (subnormal scales)", () => {
    // a/127 = 1.4·2^-24 rounds to d = 2^-24: a/d ≈ 178 → 127
    const a = 127 * 1.4 * 2 ** -24;
    const b = quantizeBlock8([a, -a / 2]);
    expect(b.scale).toBe(1);
    expect([...b.q.subarray(0, 2)]).toEqual([127, -89]);
  });
  it("pads K = 172 to 6 blocks and dequantizes within half a step", () => {
    const n = 5;
    const k = 172;
    const w = randomNormalF32(n * k, 3, 0.05);
    const m = quantizeInt8(w, n, k);
    expect(m.kb).toBe(6);
    expect(m.qweight.length).toBe(n * 6 * 8);
    expect(int8Bytes(n, k)).toBe(n * 6 * 32 + 15 * 4);
    const deq = dequantizeInt8(m);
    let err2 = 0;
    let ref2 = 0;
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < k; c++) {
        const d = int8Scale(m, r, Math.floor(c / 32));
        const e = deq[r * k + c]! - w[r * k + c]!;
        expect(Math.abs(e)).toBeLessThanOrEqual(d / 2 + 1e-12);
        err2 += e * e;
        ref2 += w[r * k + c]! ** 2;
      }
      for (let c = 172; c < 192; c++) expect(int8Value({ ...m, k: 192 }, r, c)).toBe(0);
    }
    // ~16x below INT4's 0.085 on normal weights
    expect(Math.sqrt(err2 / ref2)).toBeLessThan(0.01);
  });
});

describe("GGUF Q8_0 repack", () => {
  /** Q8_0 blocks: f16 d (either sign), then 32 random int8. */
  function q8Blocks(blocks: number, seed: number): Uint8Array {
    const r = rng(seed);
    const raw = new Uint8Array(blocks * 34);
    for (let s = 0; s < blocks; s++) {
      const h = f32ToF16Bits((r() - 0.3) * 0.01); // negative d too: the format allows it
      raw[s * 34] = h & 0xff;
      raw[s * 34 + 1] = h >> 8;
      for (let j = 0; j < 32; j++) raw[s * 34 + 2 + j] = (s * 32 + j) * 37 + Math.floor(r() * 256);
    }
    return raw;
  }
  it("is lossless: the same weights as the Q8_0 block formula, −128 included", () => {
    const n = 4;
    const k = 96;
    const raw = q8Blocks(n * 3, 5);
    raw[2] = 0x80; // q = −128
    const m = repackQ8_0(raw, n, k);
    const deq = dequantizeInt8(m);
    for (let s = 0; s < n * 3; s++) {
      const d = f16BitsToF32(raw[s * 34]! | (raw[s * 34 + 1]! << 8));
      for (let j = 0; j < 32; j++) {
        const q = (raw[s * 34 + 2 + j]! << 24) >> 24;
        const row = Math.floor(s / 3);
        const col = (s % 3) * 32 + j;
        expect(int8Value(m, row, col)).toBe(q);
        expect(deq[row * k + col]).toBe(q * d);
      }
    }
    expect(int8Value(m, 0, 0)).toBe(-128);
    expect(() => repackQ8_0(raw, n, 80)).toThrow(/multiple of 32/);
    expect(() => repackQ8_0(raw.subarray(0, 100), n, k)).toThrow(/bytes/);
  });
  it("re-quantizing llama.cpp-style Q8_0 blocks (d = f16(a/127), so max |q| = 127) gives them back", () => {
    const n = 6;
    const k = 64;
    const w = randomNormalF32(n * k, 9, 0.02);
    const m = quantizeInt8(w, n, k);
    const again = quantizeInt8(Float32Array.from(dequantizeInt8(m)), n, k);
    expect([...again.qweight]).toEqual([...m.qweight]);
    expect([...again.scales]).toEqual([...m.scales]);
  });
});
