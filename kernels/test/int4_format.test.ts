// The INT4 format's CPU spec (no GPU): exact f16 conversions, block quantization edge cases, Q4_0
// repacking, and the measured error that justified the symmetric scheme.
import { readFileSync } from "node:fs";
import { randomNormalF32 } from "@wisp/gpu-test";
import { describe, expect, it } from "vitest";
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from "../src/format/f16.ts";
import {
  dequantizeInt4,
  int4Bytes,
  int4Nibble,
  int4Scale,
  quantizeBlock,
  quantizeInt4,
  repackQ4_0,
} from "../src/format/int4.ts";
import { quantErrorOfSafetensors } from "../tools/quant-error.ts";

describe("f16 conversions", () => {
  it("round to nearest even, saturate, keep subnormals", () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(1e6)).toBe(0x7bff);
    expect(f32ToF16Bits(-1e6)).toBe(0xfbff);
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie → even (0)
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie → even (2)
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    for (let h = 0; h < 0x7c00; h += 7) expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
    expect(bf16BitsToF32(f32ToBf16Bits(1.5))).toBe(1.5);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie → even
  });
});

describe("INT4 block quantization", () => {
  it("maps the largest-magnitude element to q = 0 and zero to 8", () => {
    const { scale, q } = quantizeBlock([0.5, -1, 0, 0.25]);
    expect(f16BitsToF32(scale)).toBe(0.125);
    expect([...q.subarray(0, 4)]).toEqual([12, 0, 8, 10]);
    expect([...q.subarray(4)].every((v) => v === 8)).toBe(true); // padding
  });
  it("negative max flips the sign of the scale; ties in magnitude keep the first", () => {
    expect(f16BitsToF32(quantizeBlock([2, -2]).scale)).toBe(-0.25);
    expect(f16BitsToF32(quantizeBlock([-2, 2]).scale)).toBe(0.25);
    expect([...quantizeBlock([-2, 2]).q.subarray(0, 2)]).toEqual([0, 15]); // +8 clamps to 7
  });
  it("rounds exact ties away from zero, and an all-zero block has scale 0", () => {
    // d = -8/-8... m = -8 → d = 1: 2.5 → 3, -2.5 → -3
    expect([...quantizeBlock([-8, 2.5, -2.5]).q.subarray(0, 3)]).toEqual([0, 11, 5]);
    const z = quantizeBlock(new Float64Array(32));
    expect(z.scale).toBe(0x8000); // f16(0 / -8) = -0: d == 0
    expect(f16BitsToF32(z.scale)).toBe(-0);
    expect([...z.q].every((v) => v === 8)).toBe(true);
  });
  it("pads K=172 to 6 blocks and dequantizes within half a step", () => {
    const n = 5;
    const k = 172;
    const w = randomNormalF32(n * k, 3, 0.05);
    const m = quantizeInt4(w, n, k);
    expect(m.kb).toBe(6);
    expect(m.qweight.length).toBe(n * 6 * 4);
    expect(int4Bytes(n, k)).toBe(n * 6 * 16 + 15 * 4);
    const deq = dequantizeInt4(m);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < k; c++) {
        const d = int4Scale(m, r, Math.floor(c / 32));
        // Half a step, except where +8 steps clamps to the top level 7 (then at most one step).
        const clamped = w[r * k + c]! / d > 7.5;
        const bound = (clamped ? 1 : 0.5) * Math.abs(d) * (1 + 1e-3) + 1e-12;
        expect(Math.abs(deq[r * k + c]! - w[r * k + c]!)).toBeLessThanOrEqual(bound);
      }
      // padding nibbles are zeros (q = 8)
      for (let c = 172; c < 192; c++) expect(int4Nibble({ ...m, k: 192 }, r, c)).toBe(8);
    }
  });
});

describe("GGUF Q4_0 repack", () => {
  it("is lossless: same weights as the Q4_0 block formula", () => {
    const n = 3;
    const k = 64;
    const raw = new Uint8Array(n * 2 * 18);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + 11) & 0xff;
    for (let s = 0; s < n * 2; s++) {
      const h = f32ToF16Bits(0.01 * (s + 1));
      raw[s * 18] = h & 0xff;
      raw[s * 18 + 1] = h >> 8;
    }
    const deq = dequantizeInt4(repackQ4_0(raw, n, k));
    for (let s = 0; s < n * 2; s++) {
      const d = 0.01 * (s + 1);
      for (let j = 0; j < 32; j++) {
        const byte = raw[s * 18 + 2 + (j % 16)]!;
        const q = j < 16 ? byte & 0xf : byte >> 4;
        const row = Math.floor(s / 2);
        const col = (s % 2) * 32 + j;
        expect(deq[row * k + col]).toBe((q - 8) * f16BitsToF32(f32ToF16Bits(d)));
      }
    }
  });
});

describe("format choice, measured on stories260K (real trained weights)", () => {
  it("symmetric error is within 10% of the asymmetric scheme that costs 11% more bytes", () => {
    const bytes = readFileSync(
      new URL("../../../shared/models/stories260K/hf/model.safetensors", import.meta.url),
    );
    const e = quantErrorOfSafetensors(new Uint8Array(bytes));
    console.log(
      `stories260K INT4 relative RMS error over ${e.tensors} tensors: symmetric ${e.symmetric.toFixed(4)}, asymmetric ${e.asymmetric.toFixed(4)}`,
    );
    expect(e.tensors).toBe(36);
    expect(e.symmetric).toBeLessThan(0.1);
    expect(e.symmetric / e.asymmetric).toBeLessThan(1.1);
  });
});
