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
  halfAt,
  packHalves,
} from "../../src/format/f16.ts";
import {
  BLOCK,
  blockError,
  blocksPerRow,
  candidateScales,
  quantizeBlock,
  quantizeWithScale,
} from "../../src/format/int4.ts";
import { runDispatches } from "../../src/kernel.ts";
import { int4QuantizeRef, widenSource } from "../../src/quantize/int4_quantize.ref.ts";
import { int4Quantize, type QuantizeSourceFormat } from "../../src/quantize/int4_quantize.ts";
import type { KernelCase } from "../case.ts";

// Tolerance: none for Q4_0's rule. The GPU quantizer must equal quantizeInt4 (the format's spec) in
// every qweight and scales word, so each case compares all words bit for bit. With the scale search,
// a block may differ from the spec only in a near-tie: the GPU's scale must be one of the block's
// candidates, its q exactly that scale's, and its f64 error within 1e-5 of the spec's best (relative).

/** Source words for a format from f32 values (f16/bf16: rounded to nearest even, then packed). */
export function encode(values: Float32Array, format: QuantizeSourceFormat): Uint32Array {
  if (format === "f32") return new Uint32Array(values.buffer.slice(0));
  const toHalf = format === "f16" ? f32ToF16Bits : f32ToBf16Bits;
  return packHalves(Array.from(values, toHalf));
}

/** Random finite f16 or bf16 bit patterns (every exponent: zeros, subnormals, the largest values). */
export function randomHalfBits(count: number, seed: number, format: "f16" | "bf16"): Uint32Array {
  const r = rng(seed);
  const halves = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    const h = Math.floor(r() * 65536);
    const expMask = format === "f16" ? 0x7c00 : 0x7f80;
    // An all-ones exponent (Inf/NaN) loses its top bit: the largest finite binade instead.
    halves[i] = (h & expMask) === expMask ? h & ~0x4000 : h;
  }
  return packHalves(halves);
}

export interface Chunk {
  r0: number;
  r1: number;
  /** source elements placed before the chunk's first row in its own buffer (srcElemOffset) */
  pad: number;
}

function quantCase(
  name: string,
  format: QuantizeSourceFormat,
  n: number,
  k: number,
  values: () => Float32Array | Uint32Array,
  opts: { smoke?: boolean; wg?: number; chunks?: Chunk[] } = {},
): KernelCase {
  return {
    name: `int4_quantize ${format} ${name} N=${n} K=${k}${opts.wg ? ` wg=${opts.wg}` : ""}${opts.chunks ? ` chunks=${opts.chunks.length}` : ""}`,
    smoke: opts.smoke,
    async run(device) {
      const v = values();
      // Float32Array: values to encode; Uint32Array: the source words themselves.
      const words = v instanceof Float32Array ? encode(v, format) : v;
      const ref = int4QuantizeRef(words, format, n, k);
      const kb = blocksPerRow(k);
      const qweight = guardedOutput(device, n * kb * 4);
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
        return int4Quantize(
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

/**
 * The scale search on the GPU vs quantizeInt4({ search: true, importance }). Blocks equal to the spec
 * pass; a differing block must be a near-tie (see the header); their count is reported.
 */
function searchCase(
  name: string,
  format: QuantizeSourceFormat,
  n: number,
  k: number,
  values: () => Float32Array,
  importance: (k: number) => Float32Array,
  opts: { smoke?: boolean; chunks?: Chunk[] } = {},
): KernelCase {
  return {
    name: `int4_quantize search ${format} ${name} N=${n} K=${k}${opts.chunks ? ` chunks=${opts.chunks.length}` : ""}`,
    smoke: opts.smoke,
    async run(device) {
      const words = encode(values(), format);
      const imp = importance(k);
      const ref = int4QuantizeRef(words, format, n, k, { search: true, importance: imp });
      const kb = blocksPerRow(k);
      const qweight = guardedOutput(device, n * kb * 4);
      const scales = guardedOutput(device, Math.ceil((n * kb) / 2));
      const impBuf = uploadBuffer(device, imp);
      const chunks = opts.chunks ?? [{ r0: 0, r1: n, pad: 0 }];
      runDispatches(
        device,
        chunks.map(({ r0, r1 }) =>
          int4Quantize(
            device,
            { rows: r1 - r0, k, format, search: true, dstBlockOffset: r0 * kb },
            {
              src:
                format === "f32"
                  ? uploadBuffer(device, words.slice(r0 * k, r1 * k))
                  : uploadBuffer(
                      device,
                      packHalves(Array.from({ length: (r1 - r0) * k }, (_, i) => halfAt(words, r0 * k + i))),
                    ),
              qweight: qweight.buffer,
              scales: scales.buffer,
              importance: impBuf,
            },
          ),
        ),
      );
      const gotQ = await readGuarded(device, qweight);
      const gotS = await readGuarded(device, scales);
      const x = widenSource(words, format, n * k);
      let searched = 0;
      let nearTies = 0;
      for (let s = 0; s < n * kb; s++) {
        const row = Math.floor(s / kb);
        const b = s % kb;
        const len = Math.min(BLOCK, k - b * BLOCK);
        const block = x.subarray(row * k + b * BLOCK, row * k + b * BLOCK + len);
        const bImp = imp.subarray(b * BLOCK, b * BLOCK + len);
        const want = halfAt(ref.scales, s);
        const got = halfAt(gotS, s);
        const qEqual = [0, 1, 2, 3].every((w) => gotQ[s * 4 + w] === ref.qweight[s * 4 + w]);
        const d0 = quantizeBlock(block).scale;
        if (want !== d0) searched++;
        if (got === want && qEqual) continue;
        const where = `block ${s} (row ${row}, block ${b}): scale ${got.toString(16)} vs spec ${want.toString(16)}`;
        if (!candidateScales(d0).includes(got)) throw new Error(`${where}: not a candidate scale`);
        const q = quantizeWithScale(block, got);
        for (let i = 0; i < BLOCK; i++) {
          const gq = (gotQ[s * 4 + (i >> 3)]! >>> ((i & 7) * 4)) & 0xf;
          if (gq !== q[i]) throw new Error(`${where}: q[${i}] = ${gq}, that scale gives ${q[i]}`);
        }
        const eGot = blockError(block, q, got, bImp);
        const eWant = quantizeBlock(block, { search: true, importance: bImp }).error;
        if (!(eGot <= eWant * (1 + 1e-5) + 1e-300)) {
          throw new Error(`${where}: error ${eGot} vs the spec's best ${eWant}: not a near-tie`);
        }
        nearTies++;
      }
      return `${n * kb} blocks: ${searched} moved off Q4_0's scale by the search; ${nearTies} near-ties resolved differently (allowed)`;
    },
  };
}

const ones = (k: number) => new Float32Array(k).fill(1);
/** Like the square of an RMSNorm weight: positive, a few columns much larger. */
const normSquared = (seed: number) => (k: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: k }, () => Math.fround((0.2 + r() * 1.5 + (r() < 0.05 ? 6 : 0)) ** 2));
};

const nextUp = (x: number) => bitsF32(f32Bits(x) + (x >= 0 ? 1 : -1));
const nextDown = (x: number) => bitsF32(f32Bits(x) - (x >= 0 ? 1 : -1));

/**
 * Exact ties: the block max m = ±8·d0 for an f16 d0, so d = ∓d0 exactly, and x = (j + 0.5)·d0 with
 * its neighbours one f32 ulp away; the equal-magnitude -m comes last and must lose.
 */
function tiesBlock(d0: number, sign: number): number[] {
  const b = [sign * 8 * d0];
  for (let j = 0; j < 8; j++) b.push(((j & 1 ? -1 : 1) * (j + 0.5) * d0) as number);
  for (let j = 0; j < 7; j++) {
    const t = (j + 0.5) * d0 * (j & 2 ? -1 : 1);
    b.push(j & 1 ? nextUp(t) : nextDown(t));
    b.push(j & 1 ? nextDown(t) : nextUp(t));
  }
  b.push(7.5 * d0 * -sign, (-sign * 8 * d0) as number);
  while (b.length < 32) b.push(0.5 * d0 * sign);
  return b.slice(0, 32);
}

/**
 * Blocks with exact ties at random f16 scales: x = (i + 0.5)·d0, m = ±8·d0 at a random place. d0 has
 * `bits` significant bits: (2i + 1)·d0 stays exact in a source of bits + 4 (f32: 11, f16: 7, bf16: 4).
 */
function randomTiesBlock(r: () => number, bits: number): number[] {
  const mant = 2 ** (bits - 1) + Math.floor(r() * 2 ** (bits - 1));
  const e = Math.floor(r() * 36) - 24; // d0 in [2^e, 2^(e+1)): f16-subnormal to 8·d0 < 2^15
  const d0 = f16BitsToF32(f32ToF16Bits(Math.fround(mant * 2 ** (e - bits + 1))));
  const b: number[] = [];
  for (let i = 0; i < 32; i++) b.push((Math.floor(r() * 16) - 8 + 0.5) * d0);
  b[Math.floor(r() * 32)] = (r() < 0.5 ? -8 : 8) * d0;
  return b;
}

function subnormalF32(r: () => number): number {
  return bitsF32((1 + Math.floor(r() * 0x7ffffe)) | (r() < 0.5 ? 0x80000000 : 0));
}

/** A mix of adversarial blocks for f32 sources, K = 32·4 so each row holds four. */
function adversarialF32(): Float32Array {
  const r = rng(4242);
  const blocks: number[][] = [];
  for (const d0 of [
    1,
    0.30004883,
    3.140625,
    2 ** -24,
    5 * 2 ** -24,
    1023 * 2 ** -24,
    65504,
    1234.5,
    0.0009765625,
  ]) {
    blocks.push(tiesBlock(d0, 1), tiesBlock(d0, -1));
  }
  for (let i = 0; i < 8; i++) blocks.push(randomTiesBlock(r, 11));
  const rand = (scale: number) => Array.from({ length: 32 }, () => (r() * 2 - 1) * scale);
  blocks.push(new Array(32).fill(0)); // all zeros: d = -0 (0x8000), q = 8
  blocks.push(new Array(32).fill(-0));
  blocks.push(rand(0).map((_, i) => (i & 1 ? 0 : -0)));
  blocks.push([...rand(1).slice(0, 17), 1e30, ...rand(1).slice(0, 14)]); // one huge value: d saturates
  blocks.push([...rand(2).slice(0, 5), -3.4e38, ...rand(1e3).slice(0, 26)]);
  blocks.push(Array.from({ length: 32 }, () => subnormalF32(r))); // d = 0 → q = 8
  blocks.push([...Array.from({ length: 31 }, () => subnormalF32(r)), 1e-6]); // f16-subnormal d
  blocks.push([...Array.from({ length: 31 }, () => subnormalF32(r)), -3e-7]);
  // Near f16 overflow: m/8 = 65504 exactly, just under the rounding midpoint 65520, on it, above it.
  for (const m of [524032, 524159.97, 524160, 524288, -524160.03, 524032 * (1 + 2 ** -20)]) {
    blocks.push([
      m,
      ...rand(Math.abs(m))
        .slice(0, 31)
        .map((x) => x * 0.99),
    ]);
  }
  // d rounding ties: m/8 halfway between f16 neighbours (even and odd below), normal and subnormal.
  for (const h of [1, 1 + 2 ** -10, 2 ** -14, 0, 2 ** -24, 2 * 2 ** -24, 2 ** -15, 32768]) {
    const ulp = h >= 2 ** -14 ? 2 ** (Math.floor(Math.log2(h)) - 10) : 2 ** -24;
    const mid = h + ulp / 2;
    for (const m of [8 * mid, -8 * mid, 8 * nextUp(mid), 8 * nextDown(mid)]) {
      blocks.push([
        ...rand(Math.abs(m))
          .slice(0, 9)
          .map((x) => x * 0.999),
        m,
        ...rand(Math.abs(m)).slice(0, 22),
      ]);
    }
  }
  blocks.push([-7.25, ...rand(7).slice(0, 31)]); // negative max
  blocks.push([3, -3, ...rand(2.9).slice(0, 30)]); // ties in magnitude: the first wins
  blocks.push([-3, 3, ...rand(2.9).slice(0, 30)]);
  blocks.push([...rand(2.9).slice(0, 20), -3, 3, 3, -3, ...rand(2.9).slice(0, 8)]);
  const out = new Float32Array(Math.ceil(blocks.length / 4) * 4 * 32);
  out.set(randomNormalF32(out.length, 77, 0.05));
  blocks.forEach((b, i) => {
    out.set(b, i * 32);
  });
  return out;
}

/** Adversarial blocks on the f16 / bf16 grid: exact ties at random scales, zeros, subnormals, ±max. */
function adversarialHalf(format: "f16" | "bf16"): Uint32Array {
  const r = rng(format === "f16" ? 99 : 98);
  const bf16 = format === "bf16";
  const toBits = bf16 ? f32ToBf16Bits : f32ToF16Bits;
  const halves: number[] = [];
  const push = (vals: number[]) => {
    for (const v of vals) halves.push(toBits(v));
  };
  for (let i = 0; i < 24; i++) push(randomTiesBlock(r, bf16 ? 4 : 7));
  // d0 with few significant bits, so the ties (j + 0.5)·d0 exist in the source format.
  const d0s = bf16
    ? [1, 0.375, 2 ** -24, 3 * 2 ** -24, 7 * 2 ** -20, 1.5 * 2 ** 12]
    : [1, 0.3125, 2 ** -20, 3 * 2 ** -18, 2 ** -14, 1.25 * 2 ** -10, 4096];
  for (const d0 of d0s) {
    push(tiesBlock(d0, 1));
    push(tiesBlock(d0, -1));
  }
  push(new Array(32).fill(0));
  push(new Array(32).fill(-0));
  // Subnormals of the source format (f16: exact in f32; bf16: f32 subnormals), alone and with a max.
  const sub = () => (r() < 0.5 ? -1 : 1) * (1 + Math.floor(r() * 1022)) * 2 ** (bf16 ? -133 : -24);
  push(Array.from({ length: 32 }, sub));
  push([...Array.from({ length: 31 }, sub), bf16 ? 1e-6 : 2 ** -14]);
  push([...Array.from({ length: 16 }, sub), -65504, ...Array.from({ length: 15 }, sub)]);
  if (bf16) {
    push([1e30, ...Array.from({ length: 31 }, () => r() * 1e29)]); // |m|/8 far above 65504
    push([-3.3e38, 5e37, ...Array.from({ length: 30 }, () => r() - 0.5)]);
    push([524160, -524160, ...Array.from({ length: 30 }, () => (r() - 0.5) * 5e5)]);
  }
  push([3, -3, ...Array.from({ length: 30 }, () => (r() - 0.5) * 5)]);
  push([-3, 3, ...Array.from({ length: 30 }, () => (r() - 0.5) * 5)]);
  while (halves.length % 128 !== 0) halves.push(toBits((r() - 0.5) * 0.1));
  return packHalves(halves);
}

/** NaN and ±Inf: m skips NaN, ±Inf saturates d, NaN quantizes to 0 (as the CPU's Uint8Array stores it). */
function specialsF32(): Float32Array {
  const out = randomNormalF32(128, 5, 1);
  out.set([Number.NaN, 5, -7, 0.5, Number.NaN], 0);
  out.set([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e5, Number.NaN, 65504 * 8], 32);
  out.set([Number.NaN, Number.NaN], 64);
  out.fill(Number.NaN, 96, 128);
  return out;
}

const normal =
  (count: number, seed: number, std = 0.02) =>
  () =>
    randomNormalF32(count, seed, std);
const wide = (count: number, seed: number) => () => {
  // Magnitudes over many octaves so blocks see f16-subnormal, normal and saturating scales.
  const r = rng(seed);
  return Float32Array.from({ length: count }, () => (r() < 0.5 ? -1 : 1) * 2 ** (r() * 60 - 40) * (1 + r()));
};

export const quantizeCases: KernelCase[] = [
  searchCase("normal", "f32", 4, 128, normal(512, 21), ones, { smoke: true }),
  searchCase("normal, norm² importance", "f32", 64, 172, normal(64 * 172, 22), normSquared(1), {
    smoke: true,
  }),
  searchCase("normal, norm² importance", "f16", 33, 256, normal(33 * 256, 23, 0.5), normSquared(2)),
  searchCase("normal", "bf16", 30, 96, normal(30 * 96, 24), normSquared(3)),
  searchCase("wide", "f32", 17, 172, wide(17 * 172, 25), normSquared(4)),
  searchCase("adversarial", "f32", adversarialF32().length / 128, 128, adversarialF32, normSquared(5)),
  searchCase("specials (NaN, Inf)", "f32", 1, 128, specialsF32, ones),
  searchCase("normal", "f32", 2000, 64, normal(128000, 26, 1), normSquared(6)),
  searchCase("normal", "f16", 9, 72, normal(648, 27), ones, {
    chunks: [
      { r0: 0, r1: 2, pad: 0 },
      { r0: 2, r1: 9, pad: 0 },
    ],
  }),
  quantCase("normal", "f32", 1, 64, normal(64, 1), { smoke: true }),
  quantCase("normal", "f16", 2, 40, normal(80, 2), { smoke: true }),
  quantCase("normal", "bf16", 1, 64, normal(64, 3), { smoke: true }),
  quantCase("adversarial", "f32", adversarialF32().length / 128, 128, adversarialF32, { smoke: true }),
  quantCase("adversarial", "f16", adversarialHalf("f16").length / 64, 128, () => adversarialHalf("f16")),
  quantCase("adversarial", "bf16", adversarialHalf("bf16").length / 64, 128, () => adversarialHalf("bf16")),
  quantCase("specials (NaN, Inf)", "f32", 1, 128, specialsF32),
  quantCase("wide", "f32", 17, 172, wide(17 * 172, 4)),
  quantCase("random bits", "f16", 17, 172, () => randomHalfBits(17 * 172, 5, "f16")),
  quantCase("random bits", "bf16", 17, 172, () => randomHalfBits(17 * 172, 6, "bf16")),
  quantCase("normal", "f32", 3, 4096, normal(3 * 4096, 7)),
  quantCase("normal", "f16", 2, 4096, normal(2 * 4096, 8)),
  quantCase("normal", "bf16", 2, 4096, normal(2 * 4096, 9)),
  quantCase("normal", "f32", 1000, 64, normal(64000, 10, 1), { wg: 256 }),
  quantCase("wide", "bf16", 1000, 33, wide(33000, 11)), // odd K: rows start in either half
  quantCase("random bits", "f16", 5, 7, () => randomHalfBits(35, 12, "f16"), { wg: 32 }),
  quantCase("normal", "f16", 1, 4096, normal(4096, 13), { wg: 128 }),
  // Row ranges, as a caller splits a matrix too big for one binding: kb = 4 (any split row) and kb = 3
  // (even split rows), with the first element of a range at an odd element offset.
  quantCase("normal", "f16", 7, 100, normal(700, 14), {
    chunks: [
      { r0: 0, r1: 3, pad: 0 },
      { r0: 3, r1: 7, pad: 1 },
    ],
  }),
  quantCase("wide", "f32", 9, 72, wide(648, 15), {
    chunks: [
      { r0: 0, r1: 2, pad: 3 },
      { r0: 2, r1: 6, pad: 0 },
      { r0: 6, r1: 9, pad: 5 },
    ],
  }),
  quantCase("random bits", "bf16", 5, 95, () => randomHalfBits(475, 16, "bf16"), {
    chunks: [
      { r0: 0, r1: 2, pad: 1 },
      { r0: 2, r1: 5, pad: 0 },
    ],
  }),
];
