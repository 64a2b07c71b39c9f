import {
  type Binding,
  ceilDiv,
  type Dispatch,
  grid1d,
  type KernelSource,
  makeDispatch,
  uniform,
} from "../kernel.ts";
import { type RopeConfig, ropeInvFreq, ropePhaseTable } from "./rope_freqs.ts";
import appendCode from "./rope_kv_append.wgsl?raw";
import phaseCode from "./rope_phase.wgsl?raw";

export * from "./rope_freqs.ts";

/** Tokens per KV-cache page (kernels/README.md, "KV cache layout (paged)"). */
export const PAGE_TOKENS = 16;

/** rope_kv_append.wgsl with the phase → cos/sin snippet it shares with the fused decode attention. */
const code = `${appendCode}\n${phaseCode}`;

const BASE_BINDINGS = [
  "uniform", // params
  "read-only-storage", // pos: u32 words, pos0 at posIndex
  "read-only-storage", // pageTable: (pages) u32
  "read-only-storage", // phase: (2, headDim/2) u32 (ropePhaseTable)
  "storage", // qkv: f32, q roped in place
  "storage", // kCache: (numPages·16, nKvHeads, headDim) f32
  "storage", // vCache: (numPages·16, nKvHeads, headDim) f32
] as const;

export const ropeKvAppendSource: KernelSource = {
  name: "rope_kv_append",
  code,
  entryPoint: "main",
  bindings: BASE_BINDINGS,
};

/** Qwen3: per-head RMSNorm of q and k (q_norm, k_norm) before RoPE. Same module, second entry point. */
export const ropeKvAppendQkNormSource: KernelSource = {
  name: "rope_kv_append",
  code,
  entryPoint: "main_qknorm",
  bindings: [
    ...BASE_BINDINGS,
    "read-only-storage", // qNorm weight: (headDim) f32
    "read-only-storage", // kNorm weight: (headDim) f32
  ],
};

/**
 * Where q, k, v of token t, head h start in the qkv buffer, in f32 elements:
 * q at qOffset + t·qStride + h·headDim (k, v likewise). Every value must be a multiple of 4.
 */
export interface QkvLayout {
  qOffset: number;
  qStride: number;
  kOffset: number;
  kStride: number;
  vOffset: number;
  vStride: number;
}

/**
 * The fused QKV matmul output, (T, (nHeads + 2·nKvHeads)·headDim) row-major: each token row is
 * [q heads (nHeads, headDim) | k heads (nKvHeads, headDim) | v heads (nKvHeads, headDim)]
 * (Hugging Face's concatenation order of q_proj, k_proj, v_proj).
 */
export function fusedQkvLayout(nHeads: number, nKvHeads: number, headDim: number): QkvLayout {
  const row = (nHeads + 2 * nKvHeads) * headDim;
  return {
    qOffset: 0,
    qStride: row,
    kOffset: nHeads * headDim,
    kStride: row,
    vOffset: (nHeads + nKvHeads) * headDim,
    vStride: row,
  };
}

/** Three planar blocks in one buffer: q (T, nHeads, headDim), then k and v (T, nKvHeads, headDim). */
export function planarQkvLayout(
  tokens: number,
  nHeads: number,
  nKvHeads: number,
  headDim: number,
): QkvLayout {
  return {
    qOffset: 0,
    qStride: nHeads * headDim,
    kOffset: tokens * nHeads * headDim,
    kStride: nKvHeads * headDim,
    vOffset: tokens * (nHeads + nKvHeads) * headDim,
    vStride: nKvHeads * headDim,
  };
}

export interface RopeKvAppendShape {
  /** T: tokens of this batch (1 in decode). Token t has position pos[posIndex] + t. */
  tokens: number;
  nHeads: number;
  nKvHeads: number;
  /** A multiple of 8 (each thread owns 4 rotation pairs as vec4s), at most 8·WG. */
  headDim: number;
  /** Capacity of kCache/vCache in pages of 16 token slots; writes to slots beyond it are dropped. */
  numPages: number;
  /** Default: fusedQkvLayout. */
  layout?: QkvLayout;
  /** Index of pos0 in the pos buffer (u32 words). Default 0. */
  posIndex?: number;
  /** Qwen3 q_norm/k_norm before RoPE (rms_norm_eps); needs io.qNorm and io.kNorm. */
  qkNorm?: { eps: number };
}

export interface RopeKvAppendIO {
  /** f32, layout per shape.layout. q is rewritten in place (roped, and normed with qkNorm); the k and
   * v parts are only read (k stays un-roped there: the roped k lives in the cache). */
  qkv: Binding;
  /** u32 words; pos0 = pos[posIndex]. Advance it between decode steps without new bind groups. */
  pos: Binding;
  /** (pages) u32: logical page → physical page. Positions whose page lies past the end of this binding
   * (arrayLength: bind with an explicit size to bound it), or whose slot lies past numPages·16, are not
   * written to the cache. */
  pageTable: Binding;
  /** (2, headDim/2) u32 from ropePhaseBuffer / ropePhaseTable; shared by every layer. */
  phase: Binding;
  /** (numPages·16, nKvHeads, headDim) f32 each: this layer's cache. */
  kCache: Binding;
  vCache: Binding;
  /** (headDim) f32 q_norm / k_norm weights, with shape.qkNorm only. */
  qNorm?: Binding;
  kNorm?: Binding;
}

/** The phase table of a RoPE config, uploaded (load time; one per model, shared by all layers). */
export function ropePhaseBuffer(device: GPUDevice, config: RopeConfig): GPUBuffer {
  const table = ropePhaseTable(ropeInvFreq(config));
  const buffer = device.createBuffer({
    label: "rope.phase",
    size: Math.max(16, table.byteLength),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, table);
  return buffer;
}

const checkVec4 = (name: string, v: number) => {
  if (!Number.isInteger(v) || v < 0 || v % 4 !== 0)
    throw new Error(`ropeKvAppend: ${name} ${v} must be a multiple of 4`);
  return v / 4;
};

/**
 * One dispatch: q ← rope(q) in place in qkv; kCache[slot] ← rope(k), vCache[slot] ← v for each
 * token (slot from the page table at position pos0 + t). With shape.qkNorm, q and k are RMS-normed
 * per head first. variant.wg: threads per workgroup (WG override), ≥ headDim/8; default 128 (on an
 * H200 at T = 2048, 32/8 heads × 128: 64..512 within 1% without the norm; with it 64/128 ~5% ahead
 * of 256 and 25% ahead of 512).
 */
export function ropeKvAppend(
  device: GPUDevice,
  shape: RopeKvAppendShape,
  io: RopeKvAppendIO,
  variant: { wg?: number } = {},
): Dispatch {
  const { tokens, nHeads, nKvHeads, headDim, numPages } = shape;
  const wg = variant.wg ?? 128;
  if (headDim % 8 !== 0 || headDim <= 0)
    throw new Error(`ropeKvAppend: headDim ${headDim} must be a multiple of 8`);
  const lanes = headDim / 8;
  if (lanes > wg) throw new Error(`ropeKvAppend: wg ${wg} < headDim/8 = ${lanes}`);
  if (nHeads % nKvHeads !== 0)
    throw new Error(`ropeKvAppend: nHeads ${nHeads} not a multiple of nKvHeads ${nKvHeads}`);
  const headsPerWg = Math.floor(wg / lanes);
  const l = shape.layout ?? fusedQkvLayout(nHeads, nKvHeads, headDim);
  const params = uniform(device, "rope_kv_append.params", [
    tokens,
    nHeads,
    nKvHeads,
    lanes,
    headsPerWg,
    checkVec4("qOffset", l.qOffset),
    checkVec4("qStride", l.qStride),
    checkVec4("kOffset", l.kOffset),
    checkVec4("kStride", l.kStride),
    checkVec4("vOffset", l.vOffset),
    checkVec4("vStride", l.vStride),
    shape.posIndex ?? 0,
    numPages * PAGE_TOKENS,
    { f32: shape.qkNorm?.eps ?? 0 },
  ]);
  const buffers: Binding[] = [params, io.pos, io.pageTable, io.phase, io.qkv, io.kCache, io.vCache];
  let src = ropeKvAppendSource;
  if (shape.qkNorm) {
    if (!io.qNorm || !io.kNorm) throw new Error("ropeKvAppend: qkNorm needs io.qNorm and io.kNorm");
    buffers.push(io.qNorm, io.kNorm);
    src = ropeKvAppendQkNormSource;
  }
  const items = tokens * (nHeads + 2 * nKvHeads);
  return makeDispatch(device, src, { WG: wg }, buffers, grid1d(device, ceilDiv(items, headsPerWg)));
}
