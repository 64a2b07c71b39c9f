// Fused causal attention over the paged KV cache (layout: kernels/README.md). Two strategies:
// - attentionPrefill: flash attention, one dispatch, for T new tokens (any T, continuing a cache).
// - attentionDecode: flash-decoding for T = 1 (or a few) tokens, a split pass over chunks of the
//   cache plus a log-sum-exp combine pass; the split count is fixed when the bind groups are made,
//   the chunk length follows the sequence length read from the `pos` buffer at run time. With
//   `rope`, the split pass also applies RoPE to q and k and appends the new K/V to the cache
//   (replacing the rope_kv_append dispatch of a decode layer without q/k norm).
import {
  type Binding,
  checkStorageBuffers,
  type Dispatch,
  grid1d,
  type KernelSource,
  makeDispatch,
  uniform,
} from "../kernel.ts";
import { PAGE_TOKENS } from "../rope/rope.ts";
import phaseCode from "../rope/rope_phase.wgsl?raw";
import combineCode from "./attention_decode_combine.wgsl?raw";
import splitCode from "./attention_decode_split.wgsl?raw";
import splitPlainCode from "./attention_decode_split_plain.wgsl?raw";
import splitRopeCode from "./attention_decode_split_rope.wgsl?raw";
import prefillCode from "./attention_prefill_flash.wgsl?raw";

export const attentionPrefillSource: KernelSource = {
  name: "attention_prefill_flash",
  code: prefillCode,
  bindings: [
    "uniform",
    "read-only-storage", // q
    "read-only-storage", // k cache
    "read-only-storage", // v cache
    "read-only-storage", // pageTable
    "read-only-storage", // pos
    "storage", // out
  ],
};

export const attentionDecodeSplitSource: KernelSource = {
  name: "attention_decode_split",
  code: `${splitCode}\n${splitPlainCode}`,
  bindings: [
    "uniform",
    "read-only-storage", // q
    "read-only-storage", // k cache
    "read-only-storage", // v cache
    "read-only-storage", // pageTable
    "read-only-storage", // pos
    "storage", // partAcc
    "storage", // partMl
  ],
};

/** The split pass with RoPE of q, k and the K/V append folded in (attention_decode_split_rope.wgsl). */
export const attentionDecodeRopeSource: KernelSource = {
  name: "attention_decode_split_rope",
  code: `${splitCode}\n${splitRopeCode}\n${phaseCode}`,
  bindings: [
    "uniform",
    "read-only-storage", // qkv (fused layout; only read)
    "storage", // k cache (new tokens appended)
    "storage", // v cache
    "read-only-storage", // pageTable
    "read-only-storage", // pos
    "storage", // partAcc
    "storage", // partMl
    "read-only-storage", // phase
  ],
};

export const attentionDecodeCombineSource: KernelSource = {
  name: "attention_decode_combine",
  code: combineCode,
  bindings: ["uniform", "read-only-storage", "read-only-storage", "storage"],
};

export interface AttentionHeads {
  nHeads: number;
  nKvHeads: number;
  /** A multiple of 4 (the caches are read as vec4); 8, 64, 128 tested. */
  headDim: number;
  /** Softmax scale; default 1/sqrt(headDim). */
  scale?: number;
  /** Element offset of q[0][0][0] in the q binding; default 0 (any value, q is read per element). */
  qOffset?: number;
  /** Elements between tokens of q; default nHeads·headDim, (nHeads + 2·nKvHeads)·headDim for fused qkv. */
  qRowStride?: number;
}

/**
 * q: element (t, h, d) at q[qOffset + t·qRowStride + h·headDim + d] f32 (already roped);
 * k, v: one layer's caches, (numPages·16, nKvHeads, headDim) f32, holding positions 0 .. pos0+T-1;
 * pageTable: (numPages) u32; pos: u32 whose first word is pos0, the position of query token 0;
 * out: (T, nHeads, headDim) f32.
 */
export interface AttentionIo {
  q: Binding;
  k: Binding;
  v: Binding;
  pageTable: Binding;
  pos: Binding;
  out: Binding;
}

const LOG2E = Math.LOG2E;
const PREFILL_MAX = { rm: 8, s: 32, o: 32, ck: 16, cv: 16, siters: 16 }; // attention_prefill_flash.wgsl
const DECODE_MAX = { rows: 16, kiters: 16, per: 32 }; // attention_decode_{split,combine}.wgsl

function checkHeads(s: AttentionHeads): void {
  if (s.headDim % 4 !== 0 || s.headDim <= 0)
    throw new Error(`attention: headDim ${s.headDim} not a multiple of 4`);
  if (s.nKvHeads <= 0 || s.nHeads % s.nKvHeads !== 0) {
    throw new Error(`attention: nHeads ${s.nHeads} not a multiple of nKvHeads ${s.nKvHeads}`);
  }
}

function headParams(s: AttentionHeads, tokens: number) {
  return [
    tokens,
    s.nHeads,
    s.nKvHeads,
    s.qOffset ?? 0,
    s.qRowStride ?? s.nHeads * s.headDim,
    { f32: (s.scale ?? 1 / Math.sqrt(s.headDim)) * LOG2E },
  ] as const;
}

function checkStorage(device: GPUDevice, what: string, bytes: number): void {
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  if (bytes > limit) throw new Error(`${what}: ${bytes} bytes of workgroup storage > device limit ${limit}`);
}

// ---------------------------------------------------------------------------------------------------
// Prefill

/** Prefill tiling: BR query rows × BK keys per step, a (BR/RM)×TX thread grid (override constants). */
export interface PrefillTile {
  /** Query rows ((token, head) pairs of one GQA group) per workgroup. */
  br: number;
  /** Keys per staged K/V tile, a multiple of tx. */
  bk: number;
  /** Threads along keys (scores) and vec4 columns (output); divides headDim/4. */
  tx: number;
  /** Rows per thread; divides br. */
  rm: number;
}

export const prefillTileName = (t: PrefillTile) => `br${t.br}.bk${t.bk}.tx${t.tx}.rm${t.rm}`;

export function prefillWorkgroupBytes(headDim: number, t: PrefillTile): number {
  const pad4 = headDim / 4 + 1;
  return (t.br + t.bk) * pad4 * 16 + (t.br * t.tx + t.br * t.bk) * 4;
}

/** The device limits a tiling depends on (device.limits, or a target's limits when listing variants). */
export type TileLimits = Pick<
  GPUSupportedLimits,
  "maxComputeWorkgroupStorageSize" | "maxComputeInvocationsPerWorkgroup"
>;

/** Why `t` cannot run at headDim under these limits, or undefined when it can. */
export function prefillTileProblem(limits: TileLimits, headDim: number, t: PrefillTile): string | undefined {
  const c4 = headDim / 4;
  const ck = t.bk / t.tx;
  const cv = c4 / t.tx;
  const threads = (t.br / t.rm) * t.tx;
  if (!Number.isInteger(ck) || !Number.isInteger(cv) || t.br % t.rm !== 0) return "tile does not divide";
  if (t.rm > PREFILL_MAX.rm || t.rm * ck > PREFILL_MAX.s || t.rm * cv > PREFILL_MAX.o) return "register tile";
  if (ck > PREFILL_MAX.ck || cv > PREFILL_MAX.cv) return "register tile";
  if (Math.ceil((t.bk * c4) / threads) > PREFILL_MAX.siters) return "staging registers";
  if (threads > limits.maxComputeInvocationsPerWorkgroup) return "too many threads";
  if (prefillWorkgroupBytes(headDim, t) > limits.maxComputeWorkgroupStorageSize) return "workgroup storage";
  return undefined;
}

const largestDivisorAtMost = (n: number, cap: number) => {
  for (let d = Math.min(n, cap); d > 1; d--) if (n % d === 0) return d;
  return 1;
};

/** Tilings worth timing at headDim, the default first; only those that fit the limits. */
export function prefillTileCandidates(limits: TileLimits, headDim: number): PrefillTile[] {
  const c4 = headDim / 4;
  const tx = largestDivisorAtMost(c4, 16);
  const bk = (x: number, keys: number) => x * Math.max(1, Math.round(keys / x));
  // Order measured on an H100 (T = 512, 32/8 heads × 128): br16.bk32.rm2 216 µs, br32.bk16.rm2 224,
  // br32.bk32.rm4 251, br8.bk16.rm1 266. A TX = 8 tiling (bigger register tile) spilled: 500 µs.
  const all: PrefillTile[] = [
    { br: 16, bk: bk(tx, 32), tx, rm: 2 }, // 28 KiB at headDim 128
    { br: 32, bk: bk(tx, 16), tx, rm: 2 },
    { br: 32, bk: bk(tx, 32), tx, rm: 4 }, // 40 KiB at headDim 128
    { br: 8, bk: bk(tx, 16), tx, rm: 1 }, // fits 16 KiB at headDim 128
  ];
  const seen = new Set<string>();
  return all.filter((t) => {
    const key = prefillTileName(t);
    if (seen.has(key) || prefillTileProblem(limits, headDim, t)) return false;
    seen.add(key);
    return true;
  });
}

export interface AttentionPrefillShape extends AttentionHeads {
  /** New tokens T. */
  tokens: number;
}

/** Causal attention of T query tokens at positions pos0 .. pos0+T-1 over keys 0 .. pos0+T-1. */
export function attentionPrefill(
  device: GPUDevice,
  shape: AttentionPrefillShape,
  io: AttentionIo,
  tile?: PrefillTile,
): Dispatch {
  checkHeads(shape);
  const hd = shape.headDim;
  const t = tile ?? prefillTileCandidates(device.limits, hd)[0];
  if (!t) throw new Error(`attentionPrefill: no tiling fits headDim ${hd} on this device`);
  const problem = prefillTileProblem(device.limits, hd, t);
  if (problem) throw new Error(`attentionPrefill: tile ${prefillTileName(t)} at headDim ${hd}: ${problem}`);
  const group = shape.nHeads / shape.nKvHeads;
  const tiles = Math.ceil((shape.tokens * group) / t.br);
  const [x, y] = grid1d(device, tiles);
  const params = uniform(device, "attention_prefill.params", headParams(shape, shape.tokens));
  return makeDispatch(
    device,
    attentionPrefillSource,
    { HD: hd, BR: t.br, BK: t.bk, TX: t.tx, RM: t.rm },
    [params, io.q, io.k, io.v, io.pageTable, io.pos, io.out],
    [x, y, shape.nKvHeads],
  );
}

// ---------------------------------------------------------------------------------------------------
// Decode

export interface DecodeVariant {
  /** Chunks the key range is cut into (workgroups per kv head). */
  splits?: number;
  /** Threads of the split pass: a power of two, a multiple of headDim/4. */
  threads?: number;
  /** Keys per staged K tile. */
  bk?: number;
  /** Keys per softmax block, a multiple of bk. */
  block?: number;
  /** Threads of the combine pass, a multiple of headDim/4 (default: ~8 splits per thread). */
  combineThreads?: number;
}

/** Split counts worth timing for decode (workgroups = splits · nKvHeads). */
export const attentionDecodeSplitCandidates: readonly number[] = [8, 16, 32, 64, 128];

/**
 * Splits for a context of up to maxSeqLen: about 128 workgroups over all kv heads at full context,
 * chunks of at least 64 keys. On an H100 at 4096 context, 32/8 heads × 128 (split pass alone,
 * before the combine pass was rewritten): 16 splits 25.6 µs, 32: 27.2, 64: 31.8, 8: 42.6; more splits
 * also cost more partials to write and merge.
 */
export function defaultDecodeSplits(maxSeqLen: number, nKvHeads: number): number {
  return Math.max(1, Math.min(Math.ceil(128 / nKvHeads), Math.ceil(maxSeqLen / 64)));
}

export function decodeWorkgroupBytes(headDim: number, rows: number, v: Required<DecodeVariant>): number {
  const c4 = headDim / 4;
  const rb = Math.max(1, Math.min(rows, c4, Math.floor((v.bk * (c4 + 1)) / v.threads)));
  const kbuf = Math.max(v.bk * (c4 + 1), rb * v.threads);
  return (rows * (c4 + 1) + kbuf) * 16 + (rows * v.block + v.block + v.threads) * 4;
}

export interface AttentionDecodeShape extends AttentionHeads {
  /** Query tokens per step (default 1); tokens · nHeads/nKvHeads ≤ 16. */
  tokens?: number;
  /** Longest context the bind group will see; only picks the default split count. */
  maxSeqLen: number;
}

/** Partials of the split pass; may be shared by every layer (the passes run one after another). */
export interface DecodeScratch {
  /** (T·nHeads, splits, headDim) f32 */
  partAcc: GPUBuffer;
  /** (T·nHeads, splits) (m, l) f32 pairs */
  partMl: GPUBuffer;
  splits: number;
}

export function attentionDecodeScratch(
  device: GPUDevice,
  shape: Pick<AttentionDecodeShape, "nHeads" | "headDim" | "tokens">,
  splits: number,
): DecodeScratch {
  const rows = (shape.tokens ?? 1) * shape.nHeads;
  const usage = GPUBufferUsage.STORAGE;
  return {
    partAcc: device.createBuffer({
      label: "attention.partAcc",
      size: rows * splits * shape.headDim * 4,
      usage,
    }),
    partMl: device.createBuffer({ label: "attention.partMl", size: rows * splits * 8, usage }),
    splits,
  };
}

/** Resolves the decode variant for this device and shape (defaults, then the workgroup-storage fit). */
export function decodeVariant(
  device: GPUDevice,
  shape: AttentionDecodeShape,
  variant: DecodeVariant = {},
): Required<DecodeVariant> {
  const c4 = shape.headDim / 4;
  const rows = (shape.tokens ?? 1) * (shape.nHeads / shape.nKvHeads);
  const v: Required<DecodeVariant> = {
    splits: variant.splits ?? defaultDecodeSplits(shape.maxSeqLen, shape.nKvHeads),
    threads: variant.threads ?? Math.max(128, c4),
    bk: variant.bk ?? 32,
    block: variant.block ?? 256,
    combineThreads: 0,
  };
  // Combine: split lanes of ≤ 8 splits each (their loads all go out at once), at least 128 threads.
  const maxThreads = device.limits.maxComputeInvocationsPerWorkgroup;
  const lanes = Math.max(Math.ceil(128 / c4), Math.ceil(v.splits / 8));
  v.combineThreads =
    variant.combineThreads ?? Math.min(lanes * c4, Math.max(c4, Math.floor(maxThreads / c4) * c4));
  // Shrink what was not asked for until the workgroup storage fits (16 KiB on some devices): the
  // block first (only the softmax step count grows), then the K tile.
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  const fits = () => decodeWorkgroupBytes(shape.headDim, rows, v) <= limit;
  while (!fits() && variant.block === undefined && v.block > Math.max(64, v.bk)) v.block /= 2;
  while (!fits() && variant.bk === undefined && v.bk > 16) v.bk /= 2;
  while (!fits() && variant.block === undefined && v.block > Math.max(16, v.bk)) v.block /= 2;
  return v;
}

/**
 * RoPE + KV append folded into the decode split pass. Then io.q is the fused QKV matmul output
 * (fusedQkvLayout from qOffset: per token [q heads | k heads | v heads], un-roped, qRowStride ≥
 * (nHeads + 2·nKvHeads)·headDim) and io.k/io.v hold positions 0 .. pos0-1; the pass writes K, V of
 * positions pos0 .. pos0+T-1 exactly as ropeKvAppend would (same slots, same dropped writes, same
 * values bit for bit) and attends with rope(q). The qkv buffer is not written: q is roped only in
 * workgroup memory (nothing after attention reads it), k and v stay un-roped there. No q/k norm.
 */
export interface DecodeRope {
  /** (2, headDim/2) u32 phase table (ropePhaseBuffer); shared by every layer. */
  phase: Binding;
  /** Cache capacity in pages of 16 slots (ropeKvAppend's numPages): writes past it are dropped, as are
   * positions whose page lies past the end of the pageTable binding. */
  numPages: number;
}

/**
 * Flash-decoding: returns [split pass, combine pass]. Query tokens at positions pos0 .. pos0+T-1
 * attend keys 0 .. pos0+t; pos0 is read at run time, so the dispatches serve every step. With
 * `rope`, the split pass also does ropeKvAppend's work (DecodeRope): one dispatch fewer per layer.
 */
export function attentionDecode(
  device: GPUDevice,
  shape: AttentionDecodeShape,
  io: AttentionIo & { scratch?: DecodeScratch },
  variant: DecodeVariant = {},
  rope?: DecodeRope,
): Dispatch[] {
  checkHeads(shape);
  const hd = shape.headDim;
  const c4 = hd / 4;
  const tokens = shape.tokens ?? 1;
  const splitSource = rope ? attentionDecodeRopeSource : attentionDecodeSplitSource;
  if (rope) {
    const row = (shape.nHeads + 2 * shape.nKvHeads) * hd;
    const stride = shape.qRowStride ?? shape.nHeads * hd;
    if (hd % 8 !== 0) throw new Error(`attentionDecode rope: headDim ${hd} must be a multiple of 8`);
    if (stride < row) {
      throw new Error(
        `attentionDecode rope: q must be the fused qkv buffer, qRowStride ${stride} < (nHeads + 2·nKvHeads)·headDim = ${row}`,
      );
    }
    if (!Number.isInteger(rope.numPages) || rope.numPages < 0)
      throw new Error(`attentionDecode rope: bad numPages ${rope.numPages}`);
    checkStorageBuffers(device, splitSource);
  }
  const rows = tokens * (shape.nHeads / shape.nKvHeads);
  const v = decodeVariant(device, shape, variant);
  const name = `attentionDecode(headDim ${hd}, ${JSON.stringify(v)})`;
  if (rows > DECODE_MAX.rows) {
    throw new Error(`attentionDecode: tokens·group = ${rows} > ${DECODE_MAX.rows}; use attentionPrefill`);
  }
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (!pow2(v.threads) || v.threads % c4 !== 0 || v.combineThreads % c4 !== 0 || v.threads < rows) {
    throw new Error(`${name}: threads must be powers of two, multiples of headDim/4 and ≥ ${rows} rows`);
  }
  if (v.block % v.bk !== 0 || v.splits < 1) throw new Error(`${name}: block must be a multiple of bk`);
  if (Math.ceil((v.bk * c4) / v.threads) > DECODE_MAX.kiters)
    throw new Error(`${name}: bk too large for threads`);
  const maxThreads = device.limits.maxComputeInvocationsPerWorkgroup;
  if (v.threads > maxThreads || v.combineThreads > maxThreads) throw new Error(`${name}: too many threads`);
  if (Math.ceil(v.splits / (v.combineThreads / c4)) > DECODE_MAX.per) {
    throw new Error(`${name}: more than ${DECODE_MAX.per} splits per combine thread`);
  }
  checkStorage(device, name, decodeWorkgroupBytes(hd, rows, v));
  checkStorage(device, `${name} combine`, v.splits * 8 + v.combineThreads * 16 + (v.combineThreads / c4) * 4);

  const scratch = io.scratch ?? attentionDecodeScratch(device, shape, v.splits);
  if (scratch.splits !== v.splits) throw new Error(`${name}: scratch made for ${scratch.splits} splits`);
  const splitParams = uniform(device, `${splitSource.name}.params`, [
    ...headParams(shape, tokens),
    v.splits,
    rope ? rope.numPages * PAGE_TOKENS : 0,
  ]);
  const buffers = [io.q, io.k, io.v, io.pageTable, io.pos, scratch.partAcc, scratch.partMl];
  const split = makeDispatch(
    device,
    splitSource,
    { HD: hd, ROWS: rows, NT: v.threads, BK: v.bk, CH: v.block },
    [splitParams, ...buffers, ...(rope ? [rope.phase] : [])],
    [v.splits, shape.nKvHeads, 1],
  );
  const outRows = tokens * shape.nHeads;
  const combineParams = uniform(device, "attention_decode_combine.params", [outRows]);
  const combine = makeDispatch(
    device,
    attentionDecodeCombineSource,
    { HD: hd, SPLITS: v.splits, NT: v.combineThreads },
    [combineParams, scratch.partAcc, scratch.partMl, io.out],
    grid1d(device, outRows),
  );
  return [split, combine];
}
