// Decode attention with RoPE + KV append folded into the split pass (attentionDecode(..., rope)),
// against the dispatches it replaces, [ropeKvAppend, attentionDecode split, combine], on identical
// inputs: the attention output bit for bit, the whole K and V cache buffers word for word (sentinels
// after them included), and the qkv buffer left untouched; and against the f64 references.
import {
  expectClose,
  expectEqualWords,
  type GuardedOutput,
  guardedOutput,
  randomF32,
  readGuarded,
  rng,
  SENTINEL,
  SENTINEL_WORDS,
  uploadBuffer,
} from "@wisp/gpu-test";
import { attentionRef } from "../../src/attention/attention.ref.ts";
import { attentionDecode } from "../../src/attention/attention.ts";
import { type Dispatch, runDispatches } from "../../src/kernel.ts";
import { ropeKvAppendRef } from "../../src/rope/rope.ref.ts";
import {
  type QkvLayout,
  type RopeConfig,
  ropeInvFreq,
  ropeKvAppend,
  ropePhaseBuffer,
} from "../../src/rope/rope.ts";
import type { KernelCase } from "../case.ts";

// Against the f64 reference: the attention tolerance of cases/attention.ts (measured ≤ 7e-7); the
// roped q adds a few 1e-8 (cases/rope.ts).
const TOL = { relNorm: 1e-5 };

const PAGE = 16;

const LLAMA32: RopeConfig["scaling"] = {
  type: "llama3",
  factor: 32,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
};

interface Spec {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  tokens: number;
  pos0: number;
  splits: number;
  theta?: number;
  scaling?: RopeConfig["scaling"];
  /** q at this element offset (a multiple of 4), rows padded by rowPad elements past q|k|v. */
  qOffset?: number;
  rowPad?: number;
  /** Logical pages in the page table (default: all pos0 + T need); positions past it are dropped. */
  tablePages?: number;
  /** Page table entries overridden (logical → physical); a physical page ≥ numPages drops the write. */
  tableOverride?: Record<number, number>;
  label?: string;
  smoke?: boolean;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** A guarded buffer whose payload is given (the cache's old content), sentinels after it. */
function guardedCopy(device: GPUDevice, payload: Float32Array): GuardedOutput {
  const init = new Uint32Array(payload.length + SENTINEL_WORDS);
  init.set(bits(payload));
  init.fill(SENTINEL, payload.length);
  return { buffer: uploadBuffer(device, init), words: payload.length };
}

function layoutOf(s: Spec) {
  const { nHeads: nh, nKvHeads: nkv, headDim: hd } = s;
  const qOffset = s.qOffset ?? 0;
  const stride = (nh + 2 * nkv) * hd + (s.rowPad ?? 0);
  const layout: QkvLayout = {
    qOffset,
    qStride: stride,
    kOffset: qOffset + nh * hd,
    kStride: stride,
    vOffset: qOffset + (nh + nkv) * hd,
    vStride: stride,
  };
  return { layout, words: qOffset + s.tokens * stride };
}

/** Inputs: qkv rows, a cache of numPages permuted physical pages full of old random values. */
function makeInputs(s: Spec, seed: number) {
  const kvLen = s.pos0 + s.tokens;
  const pagesUsed = Math.ceil(kvLen / PAGE);
  const numPages = pagesUsed + 2;
  const order = Array.from({ length: numPages }, (_, i) => i);
  const r = rng(seed + 11);
  for (let i = numPages - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const pageTable = new Uint32Array(order.slice(0, s.tablePages ?? pagesUsed));
  for (const [k, v] of Object.entries(s.tableOverride ?? {})) pageTable[Number(k)] = v;
  const cacheWords = numPages * PAGE * s.nKvHeads * s.headDim;
  const { layout, words } = layoutOf(s);
  return {
    numPages,
    pageTable,
    layout,
    qkv: randomF32(words, seed + 3, 2),
    k: randomF32(cacheWords, seed + 1),
    v: randomF32(cacheWords, seed + 2),
  };
}

type Inputs = ReturnType<typeof makeInputs>;

/** One path's buffers (caches and qkv are copies of the inputs) and its dispatches. */
function build(device: GPUDevice, s: Spec, inp: Inputs, fused: boolean, phase: GPUBuffer) {
  const { nHeads, nKvHeads, headDim, tokens } = s;
  const qkv = guardedCopy(device, inp.qkv);
  const k = guardedCopy(device, inp.k);
  const v = guardedCopy(device, inp.v);
  const out = guardedOutput(device, tokens * nHeads * headDim);
  const pos = uploadBuffer(device, new Uint32Array([s.pos0]));
  // Bound at its exact size: both kernels take the table's length from the binding.
  const pageTable = { buffer: uploadBuffer(device, inp.pageTable), size: inp.pageTable.byteLength };
  const shape = {
    nHeads,
    nKvHeads,
    headDim,
    tokens,
    qOffset: inp.layout.qOffset,
    qRowStride: inp.layout.qStride,
    maxSeqLen: 512,
  };
  const io = { q: qkv.buffer, k: k.buffer, v: v.buffer, pageTable, pos, out: out.buffer };
  const dispatches: Dispatch[] = fused
    ? attentionDecode(device, shape, io, { splits: s.splits }, { phase, numPages: inp.numPages })
    : [
        ropeKvAppend(
          device,
          { tokens, nHeads, nKvHeads, headDim, numPages: inp.numPages, layout: inp.layout },
          { qkv: qkv.buffer, pos, pageTable, phase, kCache: k.buffer, vCache: v.buffer },
        ),
        ...attentionDecode(device, shape, io, { splits: s.splits }),
      ];
  return { qkv, k, v, out, pos, dispatches };
}

type Path = ReturnType<typeof build>;

/** Fused against unfused after a run of both: output bits, whole caches, fused qkv untouched. */
async function compare(device: GPUDevice, f: Path, u: Path, qkvIn: Float32Array, what: string) {
  const outF = await readGuarded(device, f.out);
  const outU = await readGuarded(device, u.out);
  let diff = 0;
  let worst = 0;
  const ff = new Float32Array(outF.buffer, outF.byteOffset, outF.length);
  const fu = new Float32Array(outU.buffer, outU.byteOffset, outU.length);
  for (let i = 0; i < outF.length; i++) {
    if (outF[i] === outU[i]) continue;
    diff++;
    worst = Math.max(worst, Math.abs(ff[i]! - fu[i]!) / Math.max(Math.abs(fu[i]!), 1e-30));
  }
  if (diff) {
    throw new Error(
      `${what}: fused output differs from the unfused dispatches in ${diff} of ${outF.length} words` +
        ` (max relative difference ${worst.toExponential(2)})`,
    );
  }
  expectEqualWords(await readGuarded(device, f.k), await readGuarded(device, u.k), `${what}: kCache`);
  expectEqualWords(await readGuarded(device, f.v), await readGuarded(device, u.v), `${what}: vCache`);
  expectEqualWords(await readGuarded(device, f.qkv), bits(qkvIn), `${what}: fused qkv untouched`);
  return ff;
}

const describe = (s: Spec) =>
  `heads=${s.nHeads}/${s.nKvHeads} hd=${s.headDim} T=${s.tokens} pos0=${s.pos0} splits=${s.splits}` +
  `${s.qOffset || s.rowPad ? ` qOffset=${s.qOffset ?? 0} rowPad=${s.rowPad ?? 0}` : ""}` +
  `${s.scaling ? ` ${s.scaling.type}` : ""}${s.label ? ` (${s.label})` : ""}`;

const seedOf = (s: Spec) =>
  s.nHeads * 7919 + s.nKvHeads * 104729 + s.headDim * 31 + s.tokens * 1009 + s.pos0 * 13 + s.splits;

function fusedCase(s: Spec): KernelCase {
  const dropped = s.tablePages !== undefined || s.tableOverride !== undefined;
  return {
    name: `attention_decode rope-fused vs rope_kv_append + decode: ${describe(s)}`,
    smoke: s.smoke ?? false,
    async run(device) {
      const config: RopeConfig = { headDim: s.headDim, theta: s.theta ?? 10000, scaling: s.scaling };
      const inp = makeInputs(s, seedOf(s));
      const phase = ropePhaseBuffer(device, config);
      const u = build(device, s, inp, false, phase);
      const f = build(device, s, inp, true, phase);
      runDispatches(device, u.dispatches);
      runDispatches(device, f.dispatches);
      const out = await compare(device, f, u, inp.qkv, "fused");

      const ref = ropeKvAppendRef(
        {
          tokens: s.tokens,
          nHeads: s.nHeads,
          nKvHeads: s.nKvHeads,
          headDim: s.headDim,
          layout: inp.layout,
          pos0: s.pos0,
          pageTable: inp.pageTable,
          cacheSlots: inp.numPages * PAGE,
          invFreq: ropeInvFreq(config),
        },
        inp.qkv,
        inp.k,
        inp.v,
      );
      let written = 0;
      for (let i = 0; i < ref.written.length; i += s.headDim) written += ref.written[i]!;
      const expectWritten = dropped ? undefined : s.tokens * s.nKvHeads;
      if (expectWritten !== undefined && written !== expectWritten)
        throw new Error(`reference wrote ${written} head vectors, want ${expectWritten}`);
      // Keys past the page table have no defined value (the kernels read a clamped entry): no
      // reference for the output then, only the comparison above.
      if (dropped) return `bit-identical to unfused, caches equal; ${written} k/v head vectors written`;
      const want = attentionRef(ref.qkv, ref.kCache, ref.vCache, inp.pageTable, {
        tokens: s.tokens,
        pos0: s.pos0,
        nHeads: s.nHeads,
        nKvHeads: s.nKvHeads,
        headDim: s.headDim,
        qOffset: inp.layout.qOffset,
        qRowStride: inp.layout.qStride,
      });
      const e = expectClose(out, want, TOL, "fused vs reference");
      return `bit-identical to unfused, caches equal; relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
    },
  };
}

/** Decode loop, one bind group per path: pos and the qkv row change per step, the caches carry over. */
function stepsCase(): KernelCase {
  const s: Spec = { nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 0, splits: 4 };
  const steps = [14, 15, 16, 17, 47, 48];
  return {
    name: `attention_decode rope-fused ${describe(s)} steps pos0=${steps.join(",")} one bind group`,
    async run(device) {
      const config: RopeConfig = { headDim: s.headDim, theta: 500000, scaling: LLAMA32 };
      const last = Math.max(...steps);
      const inp = makeInputs({ ...s, pos0: last }, 777);
      const phase = ropePhaseBuffer(device, config);
      const u = build(device, s, inp, false, phase);
      const f = build(device, s, inp, true, phase);
      let kRef: ArrayLike<number> = inp.k;
      let vRef: ArrayLike<number> = inp.v;
      let worst = 0;
      for (const [i, pos0] of steps.entries()) {
        const qkv = randomF32(inp.qkv.length, 900 + i, 2);
        for (const p of [u, f]) {
          device.queue.writeBuffer(p.qkv.buffer, 0, qkv as Float32Array<ArrayBuffer>);
          device.queue.writeBuffer(p.pos, 0, new Uint32Array([pos0]));
          runDispatches(device, p.dispatches);
        }
        const out = await compare(device, f, u, qkv, `step pos0=${pos0}`);
        const ref = ropeKvAppendRef(
          {
            tokens: 1,
            nHeads: s.nHeads,
            nKvHeads: s.nKvHeads,
            headDim: s.headDim,
            layout: inp.layout,
            pos0,
            pageTable: inp.pageTable,
            cacheSlots: inp.numPages * PAGE,
            invFreq: ropeInvFreq(config),
          },
          qkv,
          kRef,
          vRef,
        );
        kRef = ref.kCache;
        vRef = ref.vCache;
        const want = attentionRef(ref.qkv, kRef, vRef, inp.pageTable, {
          tokens: 1,
          pos0,
          nHeads: s.nHeads,
          nKvHeads: s.nKvHeads,
          headDim: s.headDim,
          qRowStride: inp.layout.qStride,
        });
        worst = Math.max(worst, expectClose(out, want, TOL, `step pos0=${pos0} vs reference`).relNorm);
      }
      return `every step bit-identical to unfused, caches equal; relNorm ≤ ${worst.toExponential(2)}`;
    },
  };
}

/** Host-side checks: what the fused variant refuses, before any GPU work. */
function refusalsCase(): KernelCase {
  const expectThrow = (what: string, fn: () => unknown, match: RegExp) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof Error && match.test(e.message)) return;
      throw new Error(`${what}: wrong error ${e instanceof Error ? e.message : String(e)}`);
    }
    throw new Error(`${what}: did not throw`);
  };
  return {
    name: "attention_decode rope-fused refuses: q not fused qkv, headDim % 8, too few storage buffers",
    async run(device) {
      const buf = uploadBuffer(device, new Float32Array(4));
      const io = { q: buf, k: buf, v: buf, pageTable: buf, pos: buf, out: buf };
      const rope = { phase: buf, numPages: 1 };
      const heads = { nHeads: 4, nKvHeads: 2, headDim: 64, maxSeqLen: 64 };
      expectThrow("q without k, v", () => attentionDecode(device, heads, io, {}, rope), /fused qkv/);
      expectThrow(
        "headDim 12",
        () => attentionDecode(device, { ...heads, headDim: 12, qRowStride: 96 }, io, {}, rope),
        /multiple of 8/,
      );
      // A device with the lowest storage-buffer limit WebGPU allows is refused before it is used.
      const small = { limits: { maxStorageBuffersPerShaderStage: 4 } } as unknown as GPUDevice;
      expectThrow(
        "4 storage buffers",
        () => attentionDecode(small, { ...heads, qRowStride: 512 }, io, {}, rope),
        /8 storage buffers > device limit maxStorageBuffersPerShaderStage 4/,
      );
      return undefined;
    },
  };
}

// Pipelines differ by (headDim, rows = T·G) for the split passes and (headDim, splits) for the
// combine pass; the shapes below share them where they can (SwiftShader compiles slowly).
export const attentionRopeCases: KernelCase[] = [
  // hd 64, G = 4, T = 1: the new token at page offsets 15, 0 (first slot of a new page) and 15 again;
  // chunks of 32 keys (the BK floor), so pos0 31 is the last key of split 0 with split 1 empty.
  fusedCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 15, splits: 4, smoke: true }),
  fusedCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 16, splits: 4 }),
  fusedCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 31, splits: 4 }),
  fusedCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 299, splits: 5 }),
  fusedCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 0, splits: 4 }),
  // hd 128, G = 1 and 8.
  fusedCase({ nHeads: 4, nKvHeads: 4, headDim: 128, tokens: 1, pos0: 200, splits: 7 }),
  fusedCase({ nHeads: 16, nKvHeads: 2, headDim: 128, tokens: 1, pos0: 64, splits: 3 }),
  // T = 3 straddling two splits (chunks of 32: new keys on both sides of 32·m), across a page.
  fusedCase({ nHeads: 4, nKvHeads: 1, headDim: 64, tokens: 3, pos0: 31, splits: 4 }),
  fusedCase({ nHeads: 4, nKvHeads: 1, headDim: 64, tokens: 3, pos0: 95, splits: 8 }),
  fusedCase({ nHeads: 2, nKvHeads: 2, headDim: 128, tokens: 3, pos0: 30, splits: 4 }),
  fusedCase({ nHeads: 8, nKvHeads: 2, headDim: 128, tokens: 3, pos0: 126, splits: 8 }),
  // T = 3 within one split of a long chunk (splits 1: one workgroup per kv head appends all).
  fusedCase({ nHeads: 4, nKvHeads: 1, headDim: 64, tokens: 3, pos0: 250, splits: 1 }),
  // q at an offset in padded rows, Llama 3.2 RoPE scaling.
  fusedCase({
    nHeads: 8,
    nKvHeads: 2,
    headDim: 64,
    tokens: 1,
    pos0: 150,
    splits: 4,
    qOffset: 8,
    rowPad: 12,
    theta: 500000,
    scaling: LLAMA32,
  }),
  // Dropped appends: a position whose page is past the page table, and one whose slot is past the cache.
  fusedCase({
    nHeads: 4,
    nKvHeads: 1,
    headDim: 64,
    tokens: 3,
    pos0: 46,
    splits: 4,
    tablePages: 3,
    label: "pos 48 past the page table",
  }),
  fusedCase({
    nHeads: 4,
    nKvHeads: 1,
    headDim: 64,
    tokens: 3,
    pos0: 47,
    splits: 4,
    tableOverride: { 3: 99 },
    label: "pos 48, 49 past the cache",
  }),
  stepsCase(),
  refusalsCase(),
];
