import {
  expectEqualWords,
  guardedOutput,
  randomNormalF32,
  readGuarded,
  rng,
  uploadBuffer,
} from "@wisp/gpu-test";
import {
  bitsF32,
  f16BitsToF32,
  f32Bits,
  f32ToBf16Bits,
  f32ToF16Bits,
  packHalves,
} from "../../src/format/f16.ts";
import { blocksPerRow } from "../../src/format/int4.ts";
import { INT8_SATURATE } from "../../src/format/int8.ts";
import { runDispatches } from "../../src/kernel.ts";
import type { QuantizeSourceFormat } from "../../src/quantize/int4_quantize.ts";
import { int8QuantizeRef } from "../../src/quantize/int8_quantize.ref.ts";
import { int8Quantize } from "../../src/quantize/int8_quantize.ts";
import type { KernelCase } from "../case.ts";
import { type Chunk, encode, randomHalfBits } from "./quantize.ts";

// Tolerance: none. The GPU quantizer must equal quantizeInt8 (format/int8.ts, the spec) in every
// qweight and scales word. The adversarial inputs aim at each rounding the kernel decides by exact
// comparison: the scale's f16 rounding at and around midpoints (where the kernel's estimate a·(1/127)
// can be a step off), q's ties (x = (n + 0.5)·d exactly), the clamp, saturation, subnormals, NaN/Inf.

function int8QuantCase(
  name: string,
  format: QuantizeSourceFormat,
  n: number,
  k: number,
  values: () => Float32Array | Uint32Array,
  opts: { smoke?: boolean; wg?: number; chunks?: Chunk[] } = {},
): KernelCase {
  return {
    name: `int8_quantize ${format} ${name} N=${n} K=${k}${opts.wg ? ` wg=${opts.wg}` : ""}${opts.chunks ? ` chunks=${opts.chunks.length}` : ""}`,
    smoke: opts.smoke,
    async run(device) {
      const v = values();
      // Float32Array: values to encode; Uint32Array: the source words themselves.
      const words = v instanceof Float32Array ? encode(v, format) : v;
      const ref = int8QuantizeRef(words, format, n, k);
      const kb = blocksPerRow(k);
      const qweight = guardedOutput(device, n * kb * 8);
      const scales = guardedOutput(device, Math.ceil((n * kb) / 2));
      const chunks = opts.chunks ?? [{ r0: 0, r1: n, pad: 0 }];
      const dispatches = chunks.map(({ r0, r1, pad }) => {
        // The chunk's own source buffer: `pad` junk elements, then rows r0..r1.
        const elems = new Uint32Array(pad + (r1 - r0) * k);
        for (let i = 0; i < pad; i++) elems[i] = format === "f32" ? f32Bits(1e6 + i) : 0x7bff;
        for (let i = 0; i < (r1 - r0) * k; i++) {
          const e = r0 * k + i;
          elems[pad + i] = format === "f32" ? words[e]! : (words[e >> 1]! >>> ((e & 1) * 16)) & 0xffff;
        }
        const src = format === "f32" ? elems : packHalves(elems);
        return int8Quantize(
          device,
          { rows: r1 - r0, k, format, srcElemOffset: pad, dstBlockOffset: r0 * kb },
          { src: uploadBuffer(device, src), qweight: qweight.buffer, scales: scales.buffer },
          { wg: opts.wg },
        );
      });
      runDispatches(device, dispatches);
      expectEqualWords(await readGuarded(device, qweight), ref.qweight, "qweight");
      expectEqualWords(await readGuarded(device, scales), ref.scales, "scales");
      return `${n * kb} blocks bit-exact`;
    },
  };
}

const f16 = (h: number) => f16BitsToF32(h);
const ulps = (x: number, j: number) => bitsF32(f32Bits(x) + j);

/** A block whose largest magnitude is `a` (first, with sign), the rest well inside it. */
function blockWithMax(a: number, r: () => number): number[] {
  const b = [a];
  for (let i = 1; i < 32; i++) b.push(Math.fround((r() * 2 - 1) * Math.abs(a) * 0.9));
  return b;
}

/**
 * Exact q ties: a = 127·d for an f16 d with few significant bits, so d is the scale, and x = ±(n + 0.5)·d
 * (exact) with its f32 neighbours.
 */
function tiesBlock(d: number, r: () => number): number[] {
  const b = [127 * d];
  while (b.length < 32) {
    const n = Math.floor(r() * 127);
    const t = (r() < 0.5 ? -1 : 1) * (n + 0.5) * d;
    b.push(t, ulps(t, 1), ulps(t, -1));
  }
  return b.slice(0, 32);
}

let adversarialMemo: Float32Array | undefined;

/** Adversarial f32 blocks, K = 128 (four a row). */
function adversarialF32(): Float32Array {
  adversarialMemo ??= makeAdversarialF32();
  return adversarialMemo;
}

function makeAdversarialF32(): Float32Array {
  const r = rng(8888);
  const blocks: number[][] = [];
  // The scale's rounding: a a few ulps around 127·(an f16 midpoint), normal and subnormal f16.
  for (let i = 0; i < 40; i++) {
    const h = 1 + Math.floor(r() * 0x7bf0);
    const mid = (127 * (f16(h) + f16(h + 1))) / 2;
    const js = [0, 1, -1, 2, -2, 3, -3, 5, -5, 9, -9, 17, -17, 40, -40];
    blocks.push(blockWithMax(ulps(mid, js[i % js.length]!) * (i & 1 ? -1 : 1), r));
  }
  // Where the kernel's first estimate f16(a·f32(1/127)) is a step off (searched here; f16(f32(a/127))
  // is the spec's d, see int8_format.test.ts): the exact correction must fix them. f32(1/127) is below
  // 1/127, so with IEEE multiplication the estimate is only ever low (~1 in 20000 near a midpoint); the
  // downward check guards implementations whose estimate differs.
  const inv = Math.fround(1 / 127);
  let low = 0;
  for (let i = 0; i < 1_000_000 && low < 8; i++) {
    const h = 1 + Math.floor(r() * 0x7bf0);
    const a = ulps((127 * (f16(h) + f16(h + 1))) / 2, Math.floor(r() * 81) - 40);
    if (f32ToF16Bits(Math.fround(a * inv)) !== f32ToF16Bits(Math.fround(a / 127))) {
      low++;
      blocks.push(blockWithMax(low & 1 ? a : -a, r));
    }
  }
  if (low < 8) throw new Error(`int8_quantize adversarial: found ${low} mis-estimated scales, want 8`);
  for (const h of [0, 1, 2, 0x3fe, 0x3ff, 0x400, 0x401, 0x3bff, 0x3c00, 0x7bfe]) {
    const mid = (127 * (f16(h) + f16(h + 1))) / 2;
    for (const j of [0, 1, -1]) blocks.push(blockWithMax(ulps(mid, j), r));
  }
  // Saturation: at, just under and over 127·65504, the Inf midpoint 127·65520, and far above.
  for (const a of [
    INT8_SATURATE,
    ulps(INT8_SATURATE, -1),
    ulps(INT8_SATURATE, 1),
    127 * 65520,
    1e30,
    -3.4e38,
  ]) {
    blocks.push(blockWithMax(a, r));
  }
  // q ties at exact scales, normal and subnormal.
  for (const d of [
    1,
    0.5,
    0.375,
    3 * 2 ** -20,
    2 ** -14,
    2 ** -24,
    5 * 2 ** -24,
    1023 * 2 ** -24,
    1024,
    65504,
  ]) {
    blocks.push(tiesBlock(d, r));
  }
  // The clamp: a subnormal scale far below a/127 (a/d up to ~190).
  for (const f of [1.4, 1.49, 2.45, 7.5]) blocks.push(blockWithMax(-127 * f * 2 ** -24, r));
  // Zeros, signed zeros, f32 subnormals only (d = 0), subnormals with a small max.
  blocks.push(new Array(32).fill(0));
  blocks.push(new Array(32).fill(-0));
  const sub = () => bitsF32((1 + Math.floor(r() * 0x7ffffe)) | (r() < 0.5 ? 0x80000000 : 0));
  blocks.push(Array.from({ length: 32 }, sub));
  blocks.push([...Array.from({ length: 31 }, sub), 1e-3]);
  // Ties in magnitude (the first keeps nothing special here: d only depends on |x|).
  blocks.push([3, -3, ...Array.from({ length: 30 }, () => (r() - 0.5) * 5.9)]);
  const out = new Float32Array(Math.ceil(blocks.length / 4) * 4 * 32);
  out.set(randomNormalF32(out.length, 78, 0.05));
  blocks.forEach((b, i) => {
    out.set(b, i * 32);
  });
  return out;
}

/** NaN and ±Inf: a skips NaN, Inf saturates d, NaN quantizes to 0, ±Inf to ±127. */
function specialsF32(): Float32Array {
  const out = randomNormalF32(160, 5, 1);
  out.set([Number.NaN, 5, -7, 0.5, Number.NaN], 0);
  out.set([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e5, Number.NaN, -65504 * 127], 32);
  out.set([Number.NaN, Number.NaN], 64);
  out.fill(Number.NaN, 96, 128);
  out.fill(Number.NEGATIVE_INFINITY, 128, 160);
  return out;
}

/** Adversarial blocks on the f16 / bf16 grid: exact q ties, the scale's ties, subnormals, ±max. */
function adversarialHalf(format: "f16" | "bf16"): Uint32Array {
  const r = rng(format === "f16" ? 91 : 92);
  const bf16 = format === "bf16";
  const toBits = bf16 ? f32ToBf16Bits : f32ToF16Bits;
  const halves: number[] = [];
  const push = (vals: number[]) => {
    for (const v of vals) halves.push(toBits(v));
  };
  // Powers of two keep (n + 0.5)·d (≤ 8 significant bits) and 127·d exact in both formats.
  for (const e of bf16 ? [0, -10, -24, -30, 10] : [0, -10, -14, -20, -24, 8]) {
    const d = 2 ** e;
    const b = [127 * d];
    while (b.length < 32) b.push((r() < 0.5 ? -1 : 1) * (Math.floor(r() * 127) + 0.5) * d);
    push(b);
  }
  // a near 127·(an f16 midpoint), as near as the source grid allows; bf16 holds one exactly: 127·2^-25,
  // halfway between d = 0 and the smallest subnormal (→ 0, the even one).
  for (let i = 0; i < 12; i++) {
    const h = 1 + Math.floor(r() * 0x7bf0);
    push(blockWithMax((127 * (f16(h) + f16(h + 1))) / 2, r));
  }
  if (bf16) push(blockWithMax(127 * 2 ** -25, r));
  push(new Array(32).fill(0));
  push(new Array(32).fill(-0));
  const sub = () => (r() < 0.5 ? -1 : 1) * (1 + Math.floor(r() * 1022)) * 2 ** (bf16 ? -133 : -24);
  push(Array.from({ length: 32 }, sub));
  push([...Array.from({ length: 31 }, sub), bf16 ? 1e-6 : 2 ** -14]);
  push([...Array.from({ length: 16 }, sub), -65504, ...Array.from({ length: 15 }, sub)]);
  if (bf16) {
    push([1e30, ...Array.from({ length: 31 }, () => r() * 1e29)]);
    push([-3.3e38, 5e37, ...Array.from({ length: 30 }, () => r() - 0.5)]);
  }
  while (halves.length % 128 !== 0) halves.push(toBits((r() - 0.5) * 0.1));
  return packHalves(halves);
}

const normal =
  (count: number, seed: number, std = 0.02) =>
  () =>
    randomNormalF32(count, seed, std);
const wide = (count: number, seed: number) => () => {
  // Magnitudes over many octaves so blocks see f16-subnormal, normal and saturating scales.
  const r = rng(seed);
  return Float32Array.from({ length: count }, () => (r() < 0.5 ? -1 : 1) * 2 ** (r() * 70 - 40) * (1 + r()));
};

export const int8QuantizeCases: KernelCase[] = [
  int8QuantCase("normal", "f32", 1, 64, normal(64, 1), { smoke: true }),
  int8QuantCase("normal", "f16", 2, 40, normal(80, 2), { smoke: true }),
  int8QuantCase("normal", "bf16", 1, 64, normal(64, 3), { smoke: true }),
  int8QuantCase("adversarial", "f32", adversarialF32().length / 128, 128, adversarialF32, { smoke: true }),
  int8QuantCase("adversarial", "f16", adversarialHalf("f16").length / 64, 128, () => adversarialHalf("f16")),
  int8QuantCase("adversarial", "bf16", adversarialHalf("bf16").length / 64, 128, () =>
    adversarialHalf("bf16"),
  ),
  int8QuantCase("specials (NaN, Inf)", "f32", 1, 160, specialsF32),
  int8QuantCase("wide", "f32", 17, 172, wide(17 * 172, 4)),
  int8QuantCase("random bits", "f16", 17, 172, () => randomHalfBits(17 * 172, 5, "f16")),
  int8QuantCase("random bits", "bf16", 17, 172, () => randomHalfBits(17 * 172, 6, "bf16")),
  int8QuantCase("normal", "f32", 3, 4096, normal(3 * 4096, 7)),
  int8QuantCase("normal", "f16", 2, 4095, normal(2 * 4095, 8)),
  int8QuantCase("normal", "bf16", 2, 4096, normal(2 * 4096, 9)),
  int8QuantCase("normal", "f32", 2000, 64, normal(128000, 10, 1), { wg: 256 }),
  int8QuantCase("wide", "bf16", 1000, 33, wide(33000, 11)), // odd K: rows start in either half
  int8QuantCase("random bits", "f16", 5, 7, () => randomHalfBits(35, 12, "f16"), { wg: 32 }),
  int8QuantCase("normal", "f32", 3, 1, normal(3, 13, 1)), // K = 1: one real weight a block
  int8QuantCase("normal", "f32", 4, 31, normal(4 * 31, 14, 1)),
  // Row ranges, as a caller splits a matrix too big for one binding: kb = 4 (any split row) and kb = 3
  // (even split rows), with the first element of a range at an odd element offset.
  int8QuantCase("normal", "f16", 7, 100, normal(700, 15), {
    chunks: [
      { r0: 0, r1: 3, pad: 0 },
      { r0: 3, r1: 7, pad: 1 },
    ],
  }),
  int8QuantCase("wide", "f32", 9, 72, wide(648, 16), {
    chunks: [
      { r0: 0, r1: 2, pad: 3 },
      { r0: 2, r1: 6, pad: 0 },
      { r0: 6, r1: 9, pad: 5 },
    ],
  }),
];
