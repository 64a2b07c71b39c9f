import {
  expectClose,
  expectEqualWords,
  POISON,
  randomF32,
  readGuarded,
  readWords,
  rng,
  SENTINEL,
  SENTINEL_WORDS,
  uploadBuffer,
} from "@wisp/gpu-test";
import { runDispatches } from "../../src/kernel.ts";
import { ropeKvAppendRef } from "../../src/rope/rope.ref.ts";
import {
  fusedQkvLayout,
  planarQkvLayout,
  type QkvLayout,
  type RopeConfig,
  ropeInvFreq,
  ropeKvAppend,
  ropePhaseBuffer,
  ropePhaseTable,
} from "../../src/rope/rope.ts";
import type { KernelCase } from "../case.ts";

// The kernel's phase is exact to ~2^-28 turn at any position (fixed point, rope_freqs.ts), its
// sin/cos polynomials ~1 ulp on [-π/4, π/4], the rotation two f32 products and a sum: a few 1e-8
// relative, independent of the position: measured 4e-8..8e-8 relative norm on SwiftShader and an
// H200, so the tolerance leaves 10x for other GPUs' f32 arithmetic. (Rounding the angle pos·invFreq to
// f32 alone, as transformers does, costs a relative norm of 1.8e-5 around pos 4096 and 5.8e-4 around
// 131072, computed on the CPU for hd 128, theta 5e5.)
const TOL = { relNorm: 1e-6, relMax: 2e-6 };
// With the per-head RMSNorm first: its f32 sum of squares over headDim terms adds a few ulps.
const TOL_NORM = { relNorm: 2e-6, relMax: 4e-6 };

const LLAMA32: RopeConfig["scaling"] = {
  type: "llama3",
  factor: 32,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
};

interface Spec {
  tokens: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  pos0: number;
  theta?: number;
  scaling?: RopeConfig["scaling"];
  /** Physical pages are a seeded permutation (identity when false); extra pages stay unwritten. */
  permute?: boolean;
  extraPages?: number;
  /** Logical pages covered by the page table (default: all the batch needs). */
  tablePages?: number;
  /** Page table entries (logical page → physical) overridden after the permutation. */
  tableOverride?: Record<number, number>;
  layout?: "fused" | "planar" | "padded";
  qkNormEps?: number;
  wg?: number;
  posIndex?: number;
  smoke?: boolean;
  label?: string;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function layoutFor(s: Spec): { layout: QkvLayout; words: number } {
  const { tokens: T, nHeads: nh, nKvHeads: nkv, headDim: hd } = s;
  if (s.layout === "planar")
    return { layout: planarQkvLayout(T, nh, nkv, hd), words: T * (nh + 2 * nkv) * hd };
  if (s.layout === "padded") {
    // Separate padded rows per tensor, at offsets that are not row multiples: the offsets are honoured
    // and the gaps are never written.
    const qS = nh * hd + 12;
    const kS = nkv * hd + 4;
    const vS = nkv * hd + 8;
    const kOff = 20 + T * qS;
    const vOff = kOff + 4 + T * kS;
    return {
      layout: { qOffset: 20, qStride: qS, kOffset: kOff, kStride: kS, vOffset: vOff, vStride: vS },
      words: vOff + T * vS + 16,
    };
  }
  return { layout: fusedQkvLayout(nh, nkv, hd), words: T * (nh + 2 * nkv) * hd };
}

/**
 * Splits an output into the words in `mask` (returned with their reference values, for a tolerance
 * check) and the rest, which must equal `init` bit for bit.
 */
function split(got: Uint32Array, want: ArrayLike<number>, init: Uint32Array, mask: Uint8Array) {
  const g: number[] = [];
  const w: number[] = [];
  const f = new Float32Array(got.buffer, got.byteOffset, got.length);
  for (let i = 0; i < got.length; i++) {
    if (mask[i]) {
      g.push(f[i]!);
      w.push(want[i]!);
    } else if (got[i] !== init[i]) {
      throw new Error(`word ${i} outside the written set changed: ${got[i]} (was ${init[i]})`);
    }
  }
  return { g, w };
}

/** Words of `n` f32 followed by sentinels (a guarded buffer whose payload is given, not poisoned). */
function guardedInit(device: GPUDevice, payload: Float32Array) {
  const init = new Uint32Array(payload.length + SENTINEL_WORDS);
  init.set(bits(payload));
  init.fill(SENTINEL, payload.length);
  return { buffer: uploadBuffer(device, init), words: payload.length };
}

function seedOf(s: Spec): number {
  return (s.tokens * 7919 + s.nHeads * 131 + s.nKvHeads * 17 + s.headDim * 3 + s.pos0 + (s.wg ?? 0)) >>> 0;
}

function caseName(s: Spec): string {
  const sc = s.scaling ? ` ${s.scaling.type}` : "";
  const opts = [
    s.qkNormEps !== undefined ? "qknorm" : "",
    s.layout && s.layout !== "fused" ? s.layout : "",
    s.permute ? "permuted pages" : "",
    s.wg ? `wg=${s.wg}` : "",
    s.posIndex ? `posIndex=${s.posIndex}` : "",
    s.label ?? "",
  ].filter(Boolean);
  return (
    `rope_kv_append T=${s.tokens} heads=${s.nHeads}/${s.nKvHeads} hd=${s.headDim} pos0=${s.pos0}` +
    ` theta=${s.theta ?? 10000}${sc}${opts.length ? ` (${opts.join(", ")})` : ""}`
  );
}

interface Setup {
  pageTable: Uint32Array;
  numPages: number;
}

function pagesFor(s: Spec, r: () => number): Setup {
  const first = Math.floor(s.pos0 / 16);
  const last = Math.floor((s.pos0 + s.tokens - 1) / 16);
  const used = last - first + 1;
  const numPages = used + (s.extraPages ?? 2);
  const phys = Array.from({ length: numPages }, (_, i) => i);
  if (s.permute) {
    for (let i = numPages - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [phys[i], phys[j]] = [phys[j]!, phys[i]!];
    }
  }
  const pageTable = new Uint32Array(s.tablePages ?? last + 1);
  // Pages before this batch are never read by it: point them at a page this batch writes, so a wrong
  // page index would show up as a clobbered slot.
  pageTable.fill(phys[0]!);
  for (let pg = first; pg < Math.min(pageTable.length, last + 1); pg++) pageTable[pg] = phys[pg - first]!;
  for (const [k, v] of Object.entries(s.tableOverride ?? {})) pageTable[Number(k)] = v;
  return { pageTable, numPages };
}

function ropeCase(s: Spec): KernelCase {
  return {
    name: caseName(s),
    smoke: s.smoke,
    async run(device) {
      const seed = seedOf(s);
      const r = rng(seed ^ 0x9e3779b9);
      const { tokens, nHeads, nKvHeads, headDim } = s;
      const config: RopeConfig = { headDim, theta: s.theta ?? 10000, scaling: s.scaling };
      const invFreq = ropeInvFreq(config);
      const { layout, words } = layoutFor(s);
      const { pageTable, numPages } = pagesFor(s, r);
      const cacheWords = numPages * 16 * nKvHeads * headDim;

      // Activations like a projection output; the padded layout's gaps are random too.
      const qkv = randomF32(words, seed, 2);
      const qW = s.qkNormEps !== undefined ? randomF32(headDim, seed + 1, 1.5) : undefined;
      const kW = s.qkNormEps !== undefined ? randomF32(headDim, seed + 2, 1.5) : undefined;
      const qkNorm = s.qkNormEps !== undefined ? { eps: s.qkNormEps, qWeight: qW!, kWeight: kW! } : undefined;

      const refArgs = {
        tokens,
        nHeads,
        nKvHeads,
        headDim,
        layout,
        pos0: s.pos0,
        pageTable,
        cacheSlots: numPages * 16,
        invFreq,
        qkNorm,
      };
      // Caches: old random content everywhere; the slots this batch must write are NaN-poisoned.
      const kInit = randomF32(cacheWords, seed + 3, 5);
      const vInit = randomF32(cacheWords, seed + 4, 5);
      const ref = ropeKvAppendRef(refArgs, qkv, kInit, vInit);
      const kBits = bits(kInit);
      const vBits = bits(vInit);
      for (let i = 0; i < cacheWords; i++) {
        if (ref.written[i]) {
          kBits[i] = POISON;
          vBits[i] = POISON;
        }
      }

      const posIndex = s.posIndex ?? 0;
      const posWords = new Uint32Array(posIndex + 1).fill(0xdeadbeef);
      posWords[posIndex] = s.pos0;
      const qkvOut = guardedInit(device, qkv);
      const kOut = guardedInit(device, kInit);
      const vOut = guardedInit(device, vInit);
      runDispatches(device, [
        ropeKvAppend(
          device,
          {
            tokens,
            nHeads,
            nKvHeads,
            headDim,
            numPages,
            layout,
            posIndex,
            qkNorm: qkNorm && { eps: qkNorm.eps },
          },
          {
            qkv: qkvOut.buffer,
            pos: uploadBuffer(device, posWords),
            // Bound at its exact size: the kernel takes the table's length from the binding.
            pageTable: { buffer: uploadBuffer(device, pageTable), size: pageTable.byteLength },
            phase: ropePhaseBuffer(device, config),
            kCache: kOut.buffer,
            vCache: vOut.buffer,
            qNorm: qW && uploadBuffer(device, qW),
            kNorm: kW && uploadBuffer(device, kW),
          },
          { wg: s.wg },
        ),
      ]);
      const tol = qkNorm ? TOL_NORM : TOL;

      // qkv: q elements against the reference, everything else (k, v, gaps) unchanged bit for bit.
      const qkvGot = await readGuarded(device, qkvOut);
      const isQ = new Uint8Array(words);
      for (let t = 0; t < tokens; t++)
        isQ.fill(
          1,
          layout.qOffset + t * layout.qStride,
          layout.qOffset + t * layout.qStride + nHeads * headDim,
        );
      const q = split(qkvGot, ref.qkv, bits(qkv), isQ);
      const eq = expectClose(q.g, q.w, tol, "q");

      const kGot = await readGuarded(device, kOut);
      const k = split(kGot, ref.kCache, kBits, ref.written);
      const vGot = await readGuarded(device, vOut);
      const v = split(vGot, ref.vCache, vBits, ref.written);
      let detail = `q relNorm ${eq.relNorm.toExponential(2)} relMax ${eq.relMax.toExponential(2)}`;
      if (k.g.length > 0) {
        const ek = expectClose(k.g, k.w, tol, "kCache");
        detail += `; k relNorm ${ek.relNorm.toExponential(2)} relMax ${ek.relMax.toExponential(2)}`;
      }
      // v is copied, not computed: bit-exact.
      expectEqualWords(bits(Float32Array.from(v.g)), bits(Float32Array.from(v.w)), "vCache");
      return `${detail}; ${k.g.length / headDim} k/v head vectors written`;
    },
  };
}

/** Decode loop: one dispatch (one bind group) encoded for 3 steps, pos advanced by writeBuffer. */
function decodeLoopCase(): KernelCase {
  return {
    name: "rope_kv_append decode loop: 3 steps, pos advanced by writeBuffer, same bind group",
    smoke: true,
    async run(device) {
      const nHeads = 4;
      const nKvHeads = 2;
      const headDim = 16;
      const pos0 = 30; // crosses the page boundary at 32
      const pageTable = new Uint32Array([7, 0, 2, 1, 3]); // pages 1 → 0 and 2 → 2 are used
      const numPages = 4;
      const config: RopeConfig = { headDim, theta: 10000 };
      const invFreq = ropeInvFreq(config);
      const row = (nHeads + 2 * nKvHeads) * headDim;
      const cacheWords = numPages * 16 * nKvHeads * headDim;
      const kInit = randomF32(cacheWords, 11, 5);
      const vInit = randomF32(cacheWords, 12, 5);
      const kOut = guardedInit(device, kInit);
      const vOut = guardedInit(device, vInit);
      const posBuf = uploadBuffer(device, new Uint32Array([pos0]));
      const qkvBuf = uploadBuffer(device, new Float32Array(row));
      const d = ropeKvAppend(
        device,
        { tokens: 1, nHeads, nKvHeads, headDim, numPages },
        {
          qkv: qkvBuf,
          pos: posBuf,
          pageTable: uploadBuffer(device, pageTable),
          phase: ropePhaseBuffer(device, config),
          kCache: kOut.buffer,
          vCache: vOut.buffer,
        },
      );
      let kRef: ArrayLike<number> = kInit;
      let vRef: ArrayLike<number> = vInit;
      const args = {
        tokens: 1,
        nHeads,
        nKvHeads,
        headDim,
        layout: fusedQkvLayout(nHeads, nKvHeads, headDim),
      };
      let worst = 0;
      const written = new Uint8Array(cacheWords);
      for (let step = 0; step < 3; step++) {
        const qkv = randomF32(row, 100 + step, 2);
        device.queue.writeBuffer(qkvBuf, 0, qkv.buffer as ArrayBuffer, qkv.byteOffset, qkv.byteLength);
        device.queue.writeBuffer(posBuf, 0, new Uint32Array([pos0 + step]));
        runDispatches(device, [d]);
        const ref = ropeKvAppendRef(
          { ...args, pos0: pos0 + step, pageTable, cacheSlots: numPages * 16, invFreq },
          qkv,
          kRef,
          vRef,
        );
        kRef = ref.kCache;
        vRef = ref.vCache;
        for (let i = 0; i < cacheWords; i++) written[i] ||= ref.written[i]!;
        const qGot = new Float32Array((await readWords(device, qkvBuf, row)).buffer);
        worst = Math.max(
          worst,
          expectClose(
            qGot.subarray(0, nHeads * headDim),
            ref.qkv.subarray(0, nHeads * headDim),
            TOL,
            `q step ${step}`,
          ).relNorm,
        );
      }
      // After all steps the whole cache (3 written positions, the rest untouched) matches.
      const k = split(await readGuarded(device, kOut), kRef, bits(kInit), written);
      const ek = expectClose(k.g, k.w, TOL, "kCache");
      if (k.g.length !== 3 * nKvHeads * headDim) throw new Error(`${k.g.length} k words written`);
      const vGot = await readGuarded(device, vOut);
      expectEqualWords(vGot, bits(Float32Array.from(vRef)), "vCache");
      return `q relNorm ≤ ${worst.toExponential(2)}; whole k cache relNorm ${ek.relNorm.toExponential(2)}`;
    },
  };
}

/** ropeInvFreq against values worked out by hand from transformers' formulas. */
function invFreqCase(): KernelCase {
  const close = (got: number, want: number, what: string) => {
    // f64 → f32 rounding: half an ulp, 2^-24 relative.
    if (Math.abs(got - want) > Math.abs(want) * 2 ** -23)
      throw new Error(`${what}: got ${got}, want ${want}`);
  };
  return {
    name: "ropeInvFreq: default / linear / llama3 (Llama-3.2) against hand-checked values; phase table",
    smoke: true,
    async run() {
      // default: 1 / 10000^(2i/8) = 1, 0.1, 0.01, 0.001
      const d = ropeInvFreq({ headDim: 8, theta: 10000 });
      for (const [i, w] of [1, 0.1, 0.01, 0.001].entries()) close(d[i]!, w, `default[${i}]`);
      if (d.length !== 4) throw new Error(`default length ${d.length}`);
      // linear factor 4 divides everything.
      const l = ropeInvFreq({ headDim: 8, theta: 10000, scaling: { type: "linear", factor: 4 } });
      for (const [i, w] of [0.25, 0.025, 0.0025, 0.00025].entries()) close(l[i]!, w, `linear[${i}]`);
      // Llama-3.2-3B: head_dim 128, theta 500000, factor 32, low 1, high 4, original 8192.
      // wavelen 2π/f < 2048 → unchanged, > 8192 → f/32, in between (i = 29..34) smoothed:
      // i=32: f = 500000^-0.5 = 1.414213562e-3, wavelen 4442.88, smooth = (8192/4442.88 − 1)/3
      // = 0.281283, f·((1 − smooth)/32 + smooth) = 4.2955679656e-4.
      const ll = ropeInvFreq({ headDim: 128, theta: 500000, scaling: LLAMA32 });
      const want: [number, number][] = [
        [0, 1],
        [1, 0.8146172338565447], // 500000^(-1/64)
        [28, 0.0032114459947525913], // wavelen 1956.5 < 2048: unchanged
        [29, 0.002118406996779608], // wavelen 2401.7: smoothed
        [32, 4.2955679655936815e-4],
        [34, 9.70828780262767e-5], // wavelen 6695.1: smoothed
        [35, 2.3890530884911708e-5], // wavelen 8218.7 > 8192: 7.644969883e-4 / 32
        [36, 1.9461638184831125e-5], // 6.22772421914596e-4 / 32
        [63, 7.672314972286278e-8], // 500000^(-126/128) / 32
      ];
      for (const [i, w] of want) close(ll[i]!, w, `llama3[${i}]`);
      // Phase table: (p · table) mod 2^64 is p·invFreq/2π mod 1 (checked in BigInt against f64).
      const tbl = ropePhaseTable(ll);
      for (const p of [1, 4095, 131071, 1000003]) {
        for (const i of [0, 5, 32, 63]) {
          const fx = (BigInt(p) * ((BigInt(tbl[i]!) << 32n) | BigInt(tbl[64 + i]!))) & ((1n << 64n) - 1n);
          const got = Number(fx >> 11n) / 2 ** 53;
          const turns = (p * ll[i]!) / (2 * Math.PI);
          const want = turns - Math.floor(turns);
          const err = Math.abs(got - want);
          // f64 rounding of invFreq/2π (table) and of p·invFreq/2π (this check): ~p·2^-52 each.
          if (Math.min(err, 1 - err) > p * 2 ** -50)
            throw new Error(`phase p=${p} i=${i}: ${got} vs ${want}`);
        }
      }
      return undefined;
    },
  };
}

const base = { theta: 10000 };
export const ropeCases: KernelCase[] = [
  invFreqCase(),
  decodeLoopCase(),
  // Smallest head dim (one lane per head), smoke.
  ropeCase({ ...base, tokens: 1, nHeads: 2, nKvHeads: 1, headDim: 8, pos0: 0, smoke: true }),
  ropeCase({ ...base, tokens: 17, nHeads: 8, nKvHeads: 4, headDim: 64, pos0: 5, permute: true, smoke: true }),
  ropeCase({
    ...base,
    tokens: 2,
    nHeads: 2,
    nKvHeads: 1,
    headDim: 64,
    pos0: 9,
    qkNormEps: 1e-6,
    smoke: true,
  }),
  // headDim 8 / 64 / 128 × T 1 / 17 / 512.
  ropeCase({ ...base, tokens: 17, nHeads: 8, nKvHeads: 4, headDim: 8, pos0: 3, permute: true }),
  ropeCase({ ...base, tokens: 512, nHeads: 4, nKvHeads: 2, headDim: 8, pos0: 100, permute: true }),
  ropeCase({ ...base, tokens: 1, nHeads: 8, nKvHeads: 4, headDim: 64, pos0: 777, permute: true }),
  ropeCase({ ...base, tokens: 512, nHeads: 4, nKvHeads: 2, headDim: 64, pos0: 0, permute: true }),
  // Llama-3.1-8B / 3.2-3B-like heads: 32/8 × 128.
  ropeCase({
    tokens: 1,
    nHeads: 32,
    nKvHeads: 8,
    headDim: 128,
    pos0: 4095,
    theta: 500000,
    scaling: LLAMA32,
    permute: true,
  }),
  ropeCase({ tokens: 17, nHeads: 32, nKvHeads: 8, headDim: 128, pos0: 1000, theta: 500000, permute: true }),
  ropeCase({
    tokens: 512,
    nHeads: 2,
    nKvHeads: 1,
    headDim: 128,
    pos0: 3584,
    theta: 500000,
    scaling: LLAMA32,
    permute: true,
  }),
  // Scalings.
  ropeCase({
    ...base,
    tokens: 17,
    nHeads: 8,
    nKvHeads: 4,
    headDim: 64,
    pos0: 40,
    scaling: { type: "linear", factor: 4 },
  }),
  ropeCase({
    tokens: 17,
    nHeads: 8,
    nKvHeads: 2,
    headDim: 64,
    pos0: 2000,
    theta: 500000,
    scaling: LLAMA32,
    permute: true,
  }),
  // Long context: 128k positions (the error must not grow with the position) and beyond.
  ropeCase({
    tokens: 17,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    pos0: 131000,
    theta: 500000,
    scaling: LLAMA32,
    permute: true,
  }),
  ropeCase({
    ...base,
    tokens: 3,
    nHeads: 2,
    nKvHeads: 1,
    headDim: 128,
    pos0: 5_000_000,
    label: "huge position",
  }),
  // Qwen3 q_norm/k_norm: Qwen3-8B heads, theta 1e6, eps 1e-6; a long prefill with few heads.
  ropeCase({
    tokens: 17,
    nHeads: 32,
    nKvHeads: 8,
    headDim: 128,
    pos0: 30,
    theta: 1e6,
    qkNormEps: 1e-6,
    permute: true,
  }),
  ropeCase({
    tokens: 512,
    nHeads: 2,
    nKvHeads: 1,
    headDim: 128,
    pos0: 0,
    theta: 1e6,
    qkNormEps: 1e-6,
    wg: 64,
  }),
  ropeCase({
    tokens: 1,
    nHeads: 16,
    nKvHeads: 8,
    headDim: 128,
    pos0: 4000,
    theta: 1e6,
    qkNormEps: 1e-6,
    wg: 256,
  }),
  // Layouts: planar blocks, padded rows at odd offsets (gaps must stay untouched).
  ropeCase({
    ...base,
    tokens: 17,
    nHeads: 8,
    nKvHeads: 4,
    headDim: 64,
    pos0: 7,
    layout: "planar",
    permute: true,
  }),
  ropeCase({
    ...base,
    tokens: 17,
    nHeads: 8,
    nKvHeads: 4,
    headDim: 64,
    pos0: 7,
    layout: "padded",
    permute: true,
  }),
  ropeCase({
    ...base,
    tokens: 5,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    pos0: 7,
    layout: "padded",
    qkNormEps: 1e-5,
  }),
  // Workgroup variants, including heads that do not fill a workgroup (hd 96: 12 lanes, 5 heads per
  // 64 threads) and hd 256 (32 lanes).
  ropeCase({ ...base, tokens: 17, nHeads: 8, nKvHeads: 4, headDim: 64, pos0: 1, wg: 64 }),
  ropeCase({ ...base, tokens: 17, nHeads: 8, nKvHeads: 4, headDim: 64, pos0: 1, wg: 256 }),
  ropeCase({ ...base, tokens: 17, nHeads: 6, nKvHeads: 2, headDim: 96, pos0: 20, wg: 64, permute: true }),
  ropeCase({ ...base, tokens: 17, nHeads: 6, nKvHeads: 2, headDim: 96, pos0: 20, wg: 64, qkNormEps: 1e-6 }),
  ropeCase({ ...base, tokens: 9, nHeads: 4, nKvHeads: 2, headDim: 256, pos0: 50, wg: 32, qkNormEps: 1e-6 }),
  ropeCase({ ...base, tokens: 9, nHeads: 4, nKvHeads: 2, headDim: 256, pos0: 50, wg: 48 }),
  // pos0 read at a non-zero word; page table not covering the batch / pointing past the cache: those
  // tokens' k/v are dropped (q is still roped), nothing else is touched.
  ropeCase({ ...base, tokens: 3, nHeads: 4, nKvHeads: 2, headDim: 64, pos0: 16, posIndex: 5 }),
  ropeCase({
    ...base,
    tokens: 40,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 64,
    pos0: 0,
    tablePages: 2,
    tableOverride: { 1: 99 },
    label: "pages dropped",
  }),
];
