import {
  expectEqualWords,
  guardedOutput,
  randomF32,
  randomNormalF32,
  readGuarded,
  rng,
  uploadBuffer,
} from "@wisp/gpu-test";
import { embeddingRef, f16Row, f32Row, int4Row, int8Row } from "../../src/embedding/embedding.ref.ts";
import { type EmbeddingTable, embedding } from "../../src/embedding/embedding.ts";
import { f32ToF16Bits, packHalves } from "../../src/format/f16.ts";
import { blocksPerRow, quantizeInt4 } from "../../src/format/int4.ts";
import { quantizeInt8 } from "../../src/format/int8.ts";
import { runDispatches } from "../../src/kernel.ts";
import type { KernelCase } from "../case.ts";

// Tolerance: none. A gather widens exactly (f16 → f32 is exact, INT4 (q - 8)·d and INT8 q·d are exact in f32), so
// every output word must equal the reference bit for bit; rows of out-of-range ids must be zeros.

type Format = "f32" | "f16" | "int4" | "int8";

/** Ids in range, plus (when `bad`) out-of-range ones: vocab, vocab + 1, 2^31, 2^32 - 1. */
function makeIds(count: number, vocab: number, seed: number, bad: boolean): Uint32Array {
  const r = rng(seed);
  const ids = Uint32Array.from({ length: count }, () => Math.floor(r() * vocab));
  ids[0] = vocab - 1;
  if (count > 1) ids[1] = 0;
  if (bad) {
    const oob = [vocab, vocab + 1, 0x80000000, 0xffffffff];
    for (let i = 0; i < oob.length && 2 + 2 * i < count; i++) ids[2 + 2 * i] = oob[i]!;
  }
  return ids;
}

/** f16 table values: normals at several scales, with f16 subnormals, ±0 and ±65504 mixed in. */
function f16Table(count: number, seed: number): Uint32Array {
  const r = rng(seed);
  const v = randomNormalF32(count, seed, 0.5);
  const specials = [2 ** -24, -(2 ** -24), 1023 * 2 ** -24, 3 * 2 ** -20, 0, -0, 65504, -65504, 1e-6, -7e-6];
  for (let i = 0; i < count; i += 5) v[i] = specials[Math.floor(r() * specials.length)]!;
  return packHalves(Array.from(v, f32ToF16Bits));
}

function embeddingCase(
  format: Format,
  tokens: number,
  vocab: number,
  dim: number,
  opts: {
    idOffset?: number;
    bad?: boolean;
    wg?: number;
    vec4?: boolean;
    smoke?: boolean;
    /** int8: random table bytes (−128 included) instead of quantizeInt8's */
    rawBytes?: boolean;
  } = {},
): KernelCase {
  const idOffset = opts.idOffset ?? 0;
  // The kernel the descriptor picks: vec4 when dim allows (f32: dim % 4, f16/int4: dim % 8) unless told;
  // int8 has one kernel.
  const vec4 = format !== "int8" && (opts.vec4 ?? dim % (format === "f32" ? 4 : 8) === 0);
  const label = [
    vec4 ? "vec4" : "scalar",
    opts.idOffset ? `idOffset=${idOffset}` : "",
    opts.bad ? "out-of-range ids" : "",
    opts.wg ? `wg=${opts.wg}` : "",
    opts.rawBytes ? "raw bytes" : "",
  ]
    .filter(Boolean)
    .join(" ");
  return {
    name: `embedding ${format} T=${tokens} vocab=${vocab} dim=${dim} ${label}`.trim(),
    smoke: opts.smoke,
    async run(device) {
      const seed = vocab * 131 + dim;
      // The ids sit inside a larger buffer, as the sampler's output does.
      const ids = new Uint32Array(idOffset + tokens + 3).fill(0xdeadbeef);
      ids.set(makeIds(tokens, vocab, seed + 1, opts.bad ?? false), idOffset);
      let table: EmbeddingTable;
      let row: (id: number) => ArrayLike<number>;
      if (format === "f32") {
        const t = randomF32(vocab * dim, seed, 2);
        table = { format, table: uploadBuffer(device, t) };
        row = f32Row(t, dim);
      } else if (format === "f16") {
        const t = f16Table(vocab * dim, seed);
        table = { format, table: uploadBuffer(device, t) };
        row = f16Row(t, dim);
      } else {
        // Row scales over many octaves: f16-subnormal, normal and saturated (65504) block scales.
        const w = randomNormalF32(vocab * dim, seed, 1);
        for (let r = 0; r < vocab; r++) {
          const s = 2 ** ((r % 40) - 26);
          for (let j = 0; j < dim; j++) w[r * dim + j]! *= s;
        }
        const m = format === "int4" ? quantizeInt4(w, vocab, dim) : quantizeInt8(w, vocab, dim);
        if (format === "int8" && opts.rawBytes) {
          // Bytes quantizeInt8 never writes (−128), as a GGUF Q8_0 table may hold; padding stays zero.
          const r = rng(seed + 2);
          const kb = blocksPerRow(dim);
          for (let i = 0; i < m.qweight.length; i++) {
            const live = (i % (kb * 8)) * 4 < dim ? Math.min(4, dim - (i % (kb * 8)) * 4) : 0;
            const word = i % 3 === 0 ? (Math.floor(r() * 2 ** 32) & ~0xff) | 0x80 : Math.floor(r() * 2 ** 32);
            m.qweight[i] = live === 4 ? word >>> 0 : (word & ((1 << (8 * live)) - 1)) >>> 0;
          }
        }
        table = { format, qweight: uploadBuffer(device, m.qweight), scales: uploadBuffer(device, m.scales) };
        row = format === "int4" ? int4Row(m) : int8Row(m);
      }
      const out = guardedOutput(device, tokens * dim);
      runDispatches(device, [
        embedding(
          device,
          { tokens, dim, vocab, idOffset },
          { ids: uploadBuffer(device, ids), out: out.buffer, ...table },
          { wg: opts.wg, vec4: opts.vec4 },
        ),
      ]);
      const ref = embeddingRef(ids, idOffset, tokens, dim, vocab, row);
      expectEqualWords(await readGuarded(device, out), new Uint32Array(ref.buffer), "out");
      return "bit-exact";
    },
  };
}

export const embeddingCases: KernelCase[] = [
  embeddingCase("f32", 1, 50, 64, { idOffset: 3, smoke: true }),
  embeddingCase("f16", 2, 40, 64, { smoke: true }),
  embeddingCase("int4", 1, 30, 64, { idOffset: 1, smoke: true }),
  embeddingCase("int4", 12, 30, 20, { bad: true, smoke: true }),
  embeddingCase("f32", 9, 37, 173, { bad: true, idOffset: 5 }),
  embeddingCase("f32", 4, 20, 4096, { wg: 64 }),
  embeddingCase("f16", 9, 41, 86, { bad: true, idOffset: 2 }),
  embeddingCase("f16", 3, 16, 4096),
  embeddingCase("f16", 5, 23, 576, { wg: 64 }),
  embeddingCase("int4", 9, 50, 172, { bad: true, idOffset: 7 }),
  embeddingCase("int4", 3, 10, 4096),
  embeddingCase("int4", 17, 45, 288, { wg: 32 }),
  embeddingCase("int4", 64, 45, 100, { bad: true }),
  embeddingCase("int4", 11, 45, 288, { bad: true, idOffset: 1 }),
  embeddingCase("f32", 6, 20, 4096, { bad: true, vec4: false }),
  embeddingCase("f16", 6, 20, 64, { bad: true, vec4: false, smoke: true }),
  embeddingCase("f16", 6, 20, 200, { bad: true, idOffset: 4 }),
  embeddingCase("int4", 6, 20, 64, { bad: true, vec4: false }),
  embeddingCase("int4", 6, 20, 4096, { bad: true, wg: 64 }),
  embeddingCase("int8", 1, 30, 64, { idOffset: 1, smoke: true }),
  embeddingCase("int8", 12, 30, 20, { bad: true, smoke: true }),
  embeddingCase("int8", 9, 50, 172, { bad: true, idOffset: 7 }),
  embeddingCase("int8", 3, 10, 4096, { rawBytes: true }),
  embeddingCase("int8", 17, 45, 288, { wg: 32, rawBytes: true }),
  embeddingCase("int8", 64, 45, 1, { bad: true }),
  embeddingCase("int8", 5, 45, 33, { bad: true, rawBytes: true, idOffset: 2 }),
  embeddingCase("int8", 6, 20, 4095, { bad: true, wg: 64 }),
];
