import {
  expectClose,
  type GuardedOutput,
  guardedOutput,
  randomF32,
  readGuardedF32,
  rng,
  uploadBuffer,
} from "@wisp/gpu-test";
import { attentionBenchCases } from "../../bench/cases/attention.ts";
import { type AttentionRefShape, attentionRef } from "../../src/attention/attention.ref.ts";
import {
  type AttentionIo,
  attentionDecode,
  attentionPrefill,
  type DecodeVariant,
  type PrefillTile,
  prefillTileCandidates,
  prefillTileName,
} from "../../src/attention/attention.ts";
import { runDispatches } from "../../src/kernel.ts";
import type { KernelCase } from "../case.ts";

// f32 against the f64 reference. Scores are dot products over headDim (rounding ~sqrt(headDim)·2^-24
// relative), exp2 is accurate to a few ulp over the score range used here (|s·log2e| ≲ 30), and the
// softmax-weighted sums run over up to 4096 keys in chunks/tiles with f32 accumulators. Measured
// relNorm ≤ 7e-7 on SwiftShader and on an H100 (4096-key decode included), so 1e-5 keeps a wide
// margin without a looser bound for long contexts.
const TOL = { relNorm: 1e-5 };

const PAGE = 16;

interface Problem {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  tokens: number;
  pos0: number;
  /** Identity page table instead of a random permutation of more pages than needed. */
  identity?: boolean;
  /** q read from a fused qkv buffer: element offset and extra elements per row beyond nHeads·headDim. */
  fused?: { offset: number; extra: number };
  scale?: number;
  /** Half-range of the uniform q values (k, v in [-1, 1]); sets how peaked the softmax is. */
  qRange?: number;
}

const describe = (p: Problem) =>
  `heads=${p.nHeads}/${p.nKvHeads} hd=${p.headDim} T=${p.tokens} pos0=${p.pos0}` +
  `${p.identity ? " identity-pages" : ""}${p.fused ? ` fused-q(off=${p.fused.offset},+${p.fused.extra})` : ""}` +
  `${p.scale !== undefined ? ` scale=${p.scale}` : ""}`;

/** Inputs for one problem: a paged cache with random values in every slot (used or not). */
function makeInputs(p: Problem, seed: number) {
  const kvLen = p.pos0 + p.tokens;
  const pagesUsed = Math.ceil(kvLen / PAGE);
  const numPages = p.identity ? pagesUsed : pagesUsed + 3;
  const order = Array.from({ length: numPages }, (_, i) => i);
  if (!p.identity) {
    const r = rng(seed + 11);
    for (let i = numPages - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  }
  const pageTable = new Uint32Array(order.slice(0, pagesUsed));
  const slotWords = numPages * PAGE * p.nKvHeads * p.headDim;
  const k = randomF32(slotWords, seed + 1);
  const v = randomF32(slotWords, seed + 2);
  const rowElems = p.nHeads * p.headDim;
  const qOffset = p.fused?.offset ?? 0;
  const qRowStride = p.fused ? rowElems + p.fused.extra : rowElems;
  const q = randomF32(qOffset + p.tokens * qRowStride, seed + 3, p.qRange ?? 4);
  const refShape: AttentionRefShape = {
    tokens: p.tokens,
    pos0: p.pos0,
    nHeads: p.nHeads,
    nKvHeads: p.nKvHeads,
    headDim: p.headDim,
    scale: p.scale,
    qOffset,
    qRowStride,
  };
  return { pageTable, k, v, q, qOffset, qRowStride, refShape };
}

function upload(device: GPUDevice, p: Problem, inputs: ReturnType<typeof makeInputs>) {
  const out = guardedOutput(device, p.tokens * p.nHeads * p.headDim);
  const pos = uploadBuffer(device, new Uint32Array([p.pos0]));
  const io: AttentionIo = {
    q: uploadBuffer(device, inputs.q),
    k: uploadBuffer(device, inputs.k),
    v: uploadBuffer(device, inputs.v),
    pageTable: uploadBuffer(device, inputs.pageTable),
    pos,
    out: out.buffer,
  };
  const heads = {
    nHeads: p.nHeads,
    nKvHeads: p.nKvHeads,
    headDim: p.headDim,
    scale: p.scale,
    qOffset: inputs.qOffset,
    qRowStride: inputs.qRowStride,
  };
  return { io, out, pos, heads };
}

async function check(device: GPUDevice, out: GuardedOutput, ref: Float64Array, what: string) {
  const e = expectClose(await readGuardedF32(device, out), ref, TOL, what);
  return `relNorm ${e.relNorm.toExponential(2)} relMax ${e.relMax.toExponential(2)}`;
}

function seedOf(p: Problem): number {
  return p.nHeads * 7919 + p.nKvHeads * 104729 + p.headDim * 31 + p.tokens * 1009 + p.pos0 * 13;
}

function prefillCase(p: Problem, opts: { tile?: PrefillTile; smoke?: boolean } = {}): KernelCase {
  const tileLabel = opts.tile ? prefillTileName(opts.tile) : "default";
  return {
    name: `attention_prefill ${describe(p)} tile=${tileLabel}`,
    smoke: opts.smoke ?? false,
    async run(device) {
      const inputs = makeInputs(p, seedOf(p));
      const { io, out, heads } = upload(device, p, inputs);
      runDispatches(device, [attentionPrefill(device, { ...heads, tokens: p.tokens }, io, opts.tile)]);
      const ref = attentionRef(inputs.q, inputs.k, inputs.v, inputs.pageTable, inputs.refShape);
      return check(device, out, ref, "prefill");
    },
  };
}

/** Every tiling that fits this device, at a shape with partial row tiles and partial key tiles. */
function prefillTileCases(headDim: number): KernelCase {
  const p: Problem = { nHeads: 4, nKvHeads: 2, headDim, tokens: 33, pos0: 7 };
  return {
    name: `attention_prefill ${describe(p)} every tile`,
    async run(device) {
      const inputs = makeInputs(p, seedOf(p) + 5);
      const ref = attentionRef(inputs.q, inputs.k, inputs.v, inputs.pageTable, inputs.refShape);
      const lines: string[] = [];
      for (const tile of prefillTileCandidates(device.limits, headDim)) {
        const { io, out, heads } = upload(device, p, inputs);
        runDispatches(device, [attentionPrefill(device, { ...heads, tokens: p.tokens }, io, tile)]);
        lines.push(`${prefillTileName(tile)}: ${await check(device, out, ref, prefillTileName(tile))}`);
      }
      if (lines.length < 2) throw new Error(`only ${lines.length} tilings fit headDim ${headDim}`);
      return lines.join("; ");
    },
  };
}

const variantName = (v: DecodeVariant) =>
  Object.entries(v)
    .map(([k, x]) => `${k}=${x}`)
    .join(",") || "default";

function decodeCase(
  p: Problem,
  opts: { variant?: DecodeVariant; maxSeqLen?: number; smoke?: boolean } = {},
): KernelCase {
  const maxSeqLen = opts.maxSeqLen ?? Math.max(4096, p.pos0 + p.tokens);
  return {
    name: `attention_decode ${describe(p)} seqLen=${p.pos0 + p.tokens} variant=${variantName(opts.variant ?? {})}`,
    smoke: opts.smoke ?? false,
    async run(device) {
      const inputs = makeInputs(p, seedOf(p) + 17);
      const { io, out, heads } = upload(device, p, inputs);
      runDispatches(
        device,
        attentionDecode(device, { ...heads, tokens: p.tokens, maxSeqLen }, io, opts.variant),
      );
      const ref = attentionRef(inputs.q, inputs.k, inputs.v, inputs.pageTable, inputs.refShape);
      return check(device, out, ref, "decode");
    },
  };
}

/** One bind group, several steps: only the pos buffer changes between runs. */
function decodeStepsCase(): KernelCase {
  const base: Problem = { nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 0 };
  const steps = [0, 16, 299, 40];
  return {
    name: `attention_decode ${describe(base)} steps pos0=${steps.join(",")} one bind group`,
    async run(device) {
      // Cache sized for the longest step; every step reads the same buffers.
      const big = makeInputs({ ...base, pos0: Math.max(...steps) }, 4242);
      const { io, out, pos, heads } = upload(device, { ...base, pos0: Math.max(...steps) }, big);
      const dispatches = attentionDecode(device, { ...heads, maxSeqLen: 512 }, io, { splits: 8 });
      const lines: string[] = [];
      for (const pos0 of steps) {
        device.queue.writeBuffer(pos, 0, new Uint32Array([pos0]));
        runDispatches(device, dispatches);
        const ref = attentionRef(big.q, big.k, big.v, big.pageTable, { ...big.refShape, pos0 });
        lines.push(`pos0=${pos0}: ${await check(device, out, ref, `step pos0=${pos0}`)}`);
      }
      return lines.join("; ");
    },
  };
}

/** The bench's default variant of each shape builds without validation errors (not run: too big here). */
function benchConstructCase(): KernelCase {
  return {
    name: "attention bench cases construct (default variant of each shape)",
    async run(device) {
      const built: string[] = [];
      for (const c of attentionBenchCases) {
        if (built.some((b) => b.startsWith(c.name))) continue;
        built.push(`${c.name} [${c.variant}]: ${c.setup(device).length} dispatches`);
      }
      return built.join("; ");
    },
  };
}

const qkvFused = (nKvHeads: number, headDim: number) => ({
  offset: 0,
  extra: 2 * nKvHeads * headDim,
});

// SwiftShader compiles each pipeline (shader + override constants) in seconds, so the shapes below
// are chosen to share pipelines: decode pipelines differ by (headDim, rows = T·G, variant), prefill
// ones by (headDim, tile).
export const attentionCases: KernelCase[] = [
  // Prefill: T = 1, 17, 512; pos0 = 0 and a pre-filled cache; GQA 8/4 and 32/8.
  prefillCase({ nHeads: 2, nKvHeads: 1, headDim: 8, tokens: 1, pos0: 0 }, { smoke: true }),
  prefillCase({ nHeads: 4, nKvHeads: 2, headDim: 8, tokens: 17, pos0: 5 }, { smoke: true }),
  prefillCase({ nHeads: 8, nKvHeads: 4, headDim: 64, tokens: 17, pos0: 0 }),
  prefillCase({ nHeads: 4, nKvHeads: 4, headDim: 128, tokens: 17, pos0: 0, identity: true }),
  prefillCase({ nHeads: 8, nKvHeads: 4, headDim: 128, tokens: 17, pos0: 37 }),
  prefillCase({ nHeads: 32, nKvHeads: 8, headDim: 64, tokens: 5, pos0: 20 }),
  prefillCase({ nHeads: 32, nKvHeads: 8, headDim: 128, tokens: 3, pos0: 0 }),
  prefillCase({ nHeads: 2, nKvHeads: 1, headDim: 64, tokens: 512, pos0: 0 }),
  prefillCase({ nHeads: 1, nKvHeads: 1, headDim: 128, tokens: 512, pos0: 100 }),
  prefillCase({ nHeads: 4, nKvHeads: 2, headDim: 128, tokens: 1, pos0: 300 }),
  prefillCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 9, pos0: 3, fused: qkvFused(2, 64) }),
  prefillCase({ nHeads: 4, nKvHeads: 2, headDim: 64, tokens: 6, pos0: 11, fused: { offset: 3, extra: 5 } }),
  prefillCase({ nHeads: 4, nKvHeads: 1, headDim: 64, tokens: 20, pos0: 0, scale: 0.3 }),
  prefillCase({ nHeads: 4, nKvHeads: 2, headDim: 128, tokens: 40, pos0: 9, qRange: 16 }),
  prefillTileCases(64),
  prefillTileCases(8),

  // Decode at seqLen 1, 17, 300, 4096.
  decodeCase({ nHeads: 2, nKvHeads: 1, headDim: 8, tokens: 1, pos0: 0 }, { smoke: true }),
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 16 }, { smoke: true }),
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 128, tokens: 1, pos0: 0, identity: true }),
  decodeCase({ nHeads: 32, nKvHeads: 8, headDim: 128, tokens: 1, pos0: 299 }),
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 299 }),
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 128, tokens: 1, pos0: 4095 }),
  decodeCase({ nHeads: 4, nKvHeads: 4, headDim: 64, tokens: 1, pos0: 4095 }),
  decodeCase({ nHeads: 2, nKvHeads: 1, headDim: 8, tokens: 1, pos0: 4095 }),
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 128, tokens: 1, pos0: 4095, qRange: 16 }),
  // A few tokens per step (causal among them), up to 16 rows per workgroup.
  decodeCase({ nHeads: 8, nKvHeads: 4, headDim: 64, tokens: 2, pos0: 50 }),
  decodeCase({ nHeads: 4, nKvHeads: 4, headDim: 64, tokens: 4, pos0: 0 }, { variant: { splits: 4 } }),
  decodeCase({ nHeads: 16, nKvHeads: 4, headDim: 64, tokens: 4, pos0: 290 }, { variant: { splits: 16 } }),
  decodeCase(
    { nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 40, fused: qkvFused(2, 64) },
    { smoke: true },
  ),
  decodeCase({ nHeads: 4, nKvHeads: 1, headDim: 128, tokens: 1, pos0: 77, fused: { offset: 3, extra: 5 } }),
  decodeCase({ nHeads: 4, nKvHeads: 1, headDim: 64, tokens: 1, pos0: 99, scale: 0.3 }),
  // Variants: one split, odd splits, many empty splits, multi-block chunks, other thread counts.
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 299 }, { variant: { splits: 1 } }),
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 299 }, { variant: { splits: 7 } }),
  decodeCase({ nHeads: 8, nKvHeads: 2, headDim: 128, tokens: 1, pos0: 16 }, { variant: { splits: 128 } }),
  decodeCase(
    { nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 1000 },
    { variant: { splits: 3, threads: 256, bk: 16, block: 64, combineThreads: 64 } },
  ),
  decodeCase(
    { nHeads: 8, nKvHeads: 2, headDim: 64, tokens: 1, pos0: 500 },
    { variant: { splits: 5, threads: 32, bk: 32, block: 128, combineThreads: 32 } },
  ),
  decodeStepsCase(),
  benchConstructCase(),
];
