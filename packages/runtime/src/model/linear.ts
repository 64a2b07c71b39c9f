// A linear layer on the GPU: W (n, k), y = x·Wᵀ (+ bias), stored INT4 (quantized on the GPU at load)
// or f32, or INT8 (the lm_head of an INT4 model: GEMV only). A weight larger than one storage binding
// is split into row parts, each its own buffers; GEMV runs one dispatch per part writing its slice of y
// (never truncated).
import {
  BLOCK,
  type Dispatch,
  denseGemm,
  denseGemv,
  type GemvFusion,
  type Int4GemvMath,
  type Int4GemvVariant,
  type Int4Matrix,
  type Int8Matrix,
  int4Gemm,
  int4Gemv,
  int4GemvKey,
  int4Quantize,
  int8Gemv,
  int8Quantize,
  runDispatches,
} from "@wisp/kernels";
import { ModelFileError } from "../errors.ts";

export type Quant = "int4" | "f32";

/** Autotuned INT4 GEMV variants by int4GemvKey (model/tuning.ts); absent keys run the default. */
export type TunedVariants = ReadonlyMap<string, Int4GemvVariant>;
/**
 * How one Linear is stored: the model's Quant, or INT8 (kernels/src/format/int8.ts) — only ever the
 * lm_head (and a tied embedding) of an INT4 model, which runs as a GEMV on one row at a time.
 */
export type LinearStorage = Quant | "int8";

/** INT4 and INT8 parts both hold { qweight, scales }: Linear.quant tells them apart, never the keys. */
type PartBuffers = { qweight: GPUBuffer; scales: GPUBuffer } | { w: GPUBuffer };
export interface LinearPart {
  row0: number;
  rows: number;
  buffers: PartBuffers;
}

export interface Linear {
  quant: LinearStorage;
  n: number;
  k: number;
  parts: LinearPart[];
  bias?: GPUBuffer;
  name: string;
}

/** Bytes per row as stored (INT4/INT8: quant words + the row's share of scales, rounded up). */
function rowBytes(quant: LinearStorage, k: number): number {
  if (quant === "int8") return Math.ceil(k / BLOCK) * 34;
  return quant === "int4" ? Math.ceil(k / BLOCK) * 18 : k * 4;
}

/** Row counts per part: multiples of 64 (256-byte aligned f32 output offsets) under the binding limit. */
function splitRows(device: GPUDevice, quant: LinearStorage, n: number, k: number): number[] {
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const maxRows = Math.floor(limit / rowBytes(quant, k) / 64) * 64;
  if (maxRows < 64) throw new ModelFileError(`a row of ${k} weights does not fit in one storage binding`);
  const parts: number[] = [];
  for (let r = 0; r < n; r += maxRows) parts.push(Math.min(maxRows, n - r));
  return parts;
}

/** A storage buffer (copyable both ways) of at least `bytes`, rounded up to whole vec4s (16 bytes). */
export function storageBuffer(device: GPUDevice, label: string, bytes: number): GPUBuffer {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  return device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
}

export function uploadF32(device: GPUDevice, label: string, data: Float32Array): GPUBuffer {
  const b = storageBuffer(device, label, data.byteLength);
  device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
  return b;
}

/**
 * A linear layer's buffers without contents, laid out for this device (row parts under the binding
 * limit). Every way to make a linear layer starts here — quantized at load, repacked, or filled from
 * packed bytes (a cache, the bench) — so the layouts cannot drift apart.
 */
export function allocateLinear(
  device: GPUDevice,
  name: string,
  n: number,
  k: number,
  quant: LinearStorage,
  hasBias: boolean,
): Linear {
  const kb = Math.ceil(k / BLOCK);
  const parts: LinearPart[] = [];
  let row0 = 0;
  for (const rows of splitRows(device, quant, n, k)) {
    const buffers: PartBuffers =
      quant === "int4"
        ? {
            qweight: storageBuffer(device, `${name}.qweight`, rows * kb * 16),
            scales: storageBuffer(device, `${name}.scales`, Math.ceil((rows * kb) / 2) * 4),
          }
        : quant === "int8"
          ? {
              qweight: storageBuffer(device, `${name}.qweight8`, rows * kb * 32),
              scales: storageBuffer(device, `${name}.scales8`, Math.ceil((rows * kb) / 2) * 4),
            }
          : { w: storageBuffer(device, name, rows * k * 4) };
    parts.push({ row0, rows, buffers });
    row0 += rows;
  }
  return {
    quant,
    n,
    k,
    parts,
    name,
    ...(hasBias ? { bias: storageBuffer(device, `${name}.bias`, n * 4) } : {}),
  };
}

/**
 * Quantizes rows [0, rows) of `w` (row-major (rows, k) f32) on the GPU into a part's INT4 buffers,
 * with the scale search weighted by `importance` (k values).
 */
function quantizeOnGpu(
  device: GPUDevice,
  label: string,
  w: Float32Array,
  rows: number,
  k: number,
  importance: GPUBuffer,
  out: { qweight: GPUBuffer; scales: GPUBuffer },
): void {
  const kb = Math.ceil(k / BLOCK);
  // Upload in chunks of ≤ 64 MiB of f32 so the staging copy stays small; chunk row starts keep
  // r0·kb even (whole scale words per dispatch).
  const chunkRows = Math.max(2, Math.floor((64 << 20) / (k * 4) / 2) * 2);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const r1 = Math.min(rows, r0 + chunkRows);
    const src = uploadF32(device, `${label}.src`, w.subarray(r0 * k, r1 * k));
    runDispatches(device, [
      int4Quantize(
        device,
        { rows: r1 - r0, k, format: "f32", dstBlockOffset: r0 * kb, search: true },
        { src, ...out, importance },
      ),
    ]);
    src.destroy();
  }
}

/** The INT8 counterpart of quantizeOnGpu (format/int8.ts: d = f16(max|x|/127), no search). */
function quantizeInt8OnGpu(
  device: GPUDevice,
  label: string,
  w: Float32Array,
  rows: number,
  k: number,
  out: { qweight: GPUBuffer; scales: GPUBuffer },
): void {
  const kb = Math.ceil(k / BLOCK);
  const chunkRows = Math.max(2, Math.floor((64 << 20) / (k * 4) / 2) * 2);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const r1 = Math.min(rows, r0 + chunkRows);
    const src = uploadF32(device, `${label}.src`, w.subarray(r0 * k, r1 * k));
    runDispatches(device, [
      int8Quantize(device, { rows: r1 - r0, k, format: "f32", dstBlockOffset: r0 * kb }, { src, ...out }),
    ]);
    src.destroy();
  }
}

/**
 * W (n, k) f32 row-major → a GPU linear layer in the chosen storage. INT4 searches each block's scale
 * for the least squared error weighted by `importance` (per input column, e.g. the square of the
 * RMSNorm weight in front of this matrix; default all ones); INT8 has no search and ignores it.
 */
export function linearFromF32(
  device: GPUDevice,
  name: string,
  w: Float32Array,
  n: number,
  k: number,
  quant: LinearStorage,
  bias?: Float32Array,
  importance?: Float32Array,
): Linear {
  if (importance && importance.length !== k) {
    throw new Error(`${name}: ${importance.length} importance values for K = ${k}`);
  }
  const l = allocateLinear(device, name, n, k, quant, bias !== undefined);
  const imp =
    quant === "int4"
      ? uploadF32(device, `${name}.importance`, importance ?? new Float32Array(k).fill(1))
      : undefined;
  for (const { row0, rows, buffers } of l.parts) {
    const slice = w.subarray(row0 * k, (row0 + rows) * k);
    if ("w" in buffers) device.queue.writeBuffer(buffers.w, 0, slice as Float32Array<ArrayBuffer>);
    else if (quant === "int8") quantizeInt8OnGpu(device, name, slice, rows, k, buffers);
    else quantizeOnGpu(device, name, slice, rows, k, imp!, buffers);
  }
  imp?.destroy();
  if (l.bias && bias) device.queue.writeBuffer(l.bias, 0, bias as Float32Array<ArrayBuffer>);
  return l;
}

/** An already packed INT4 matrix (GGUF Q4_0 repacked) → a GPU linear layer (one part). */
export function linearFromInt4(device: GPUDevice, name: string, m: Int4Matrix): Linear {
  const l = allocateLinear(device, name, m.n, m.k, "int4", false);
  const b = l.parts[0]!.buffers;
  if (l.parts.length !== 1 || !("qweight" in b)) {
    destroyLinear(l);
    throw new ModelFileError(`${name}: pre-quantized tensor too large for one binding`);
  }
  device.queue.writeBuffer(b.qweight, 0, m.qweight as Uint32Array<ArrayBuffer>);
  device.queue.writeBuffer(b.scales, 0, m.scales as Uint32Array<ArrayBuffer>);
  return l;
}

/**
 * An INT8 matrix (GGUF Q8_0 repacked, format/int8.ts) → a GPU linear layer, any number of row parts:
 * a part's rows start at a multiple of 64, so its first block is even and its scales are whole words
 * of the matrix's own.
 */
export function linearFromInt8(device: GPUDevice, name: string, m: Int8Matrix): Linear {
  const l = allocateLinear(device, name, m.n, m.k, "int8", false);
  for (const { row0, rows, buffers } of l.parts) {
    if (!("qweight" in buffers)) throw new Error("unreachable: an INT8 part without qweight");
    const b0 = row0 * m.kb;
    const q = m.qweight.subarray(b0 * 8, (b0 + rows * m.kb) * 8);
    const s = m.scales.subarray(b0 / 2, Math.ceil((b0 + rows * m.kb) / 2));
    device.queue.writeBuffer(buffers.qweight, 0, q as Uint32Array<ArrayBuffer>);
    device.queue.writeBuffer(buffers.scales, 0, s as Uint32Array<ArrayBuffer>);
  }
  return l;
}

/** Every GPU buffer of a linear layer: each part's, then the bias (the packing order). */
export function linearBuffers(l: Linear): GPUBuffer[] {
  return [...l.parts.flatMap((p) => Object.values(p.buffers) as GPUBuffer[]), ...(l.bias ? [l.bias] : [])];
}

function partBias(l: Linear, p: LinearPart): GPUBufferBinding | undefined {
  return l.bias ? { buffer: l.bias, offset: p.row0 * 4, size: p.rows * 4 } : undefined;
}

/**
 * y[0..m) = x·Wᵀ for decode (m ≤ 8): one GEMV per part, each writing y columns [row0, row0+rows).
 * x: (m, k) f32; y: (m, n) f32 — with several parts m must be 1 (y slices are per row). `fuse`
 * (INT4 only): an RMSNorm or SwiGLU prologue and a residual epilogue in the same dispatch. `tuned`:
 * this device's choice of work split per shape (bit-identical to the default). `math` (INT4 only):
 * "q8" rounds x to 8 bits per block and sums integer products (int4_gemv_q8.wgsl); tuned splits are
 * for the f32 kernel and are not applied to it.
 */
export function gemv(
  device: GPUDevice,
  l: Linear,
  m: number,
  x: GPUBuffer,
  y: GPUBuffer,
  yOffset = 0,
  fuse: GemvFusion = {},
  tuned?: TunedVariants,
  math: Int4GemvMath = "f32",
): Dispatch[] {
  if (l.parts.length > 1 && m !== 1) throw new Error(`${l.name}: split weights need m = 1`);
  const fused = fuse.norm !== undefined || fuse.swiglu === true || fuse.residual === true;
  if (fused && l.quant !== "int4") throw new Error(`${l.name}: fused GEMV needs INT4 weights`);
  if (l.quant === "int8") return int8Gemvs(device, l, m, x, y, yOffset);
  return l.parts.map((p) => {
    const yb =
      l.parts.length === 1 && yOffset === 0
        ? y
        : { buffer: y, offset: yOffset + p.row0 * 4, size: p.rows * 4 * m };
    const shape = { m, n: p.rows, k: l.k };
    const bias = partBias(l, p);
    return "qweight" in p.buffers
      ? int4Gemv(
          device,
          shape,
          {
            x,
            qweight: p.buffers.qweight,
            scales: p.buffers.scales,
            y: yb,
            ...(bias ? { bias } : {}),
          },
          (math === "f32" ? tuned?.get(int4GemvKey(shape, fuse)) : undefined) ?? {},
          fuse,
          math,
        )
      : denseGemv(device, shape, "f32", { x, w: p.buffers.w, y: yb, ...(bias ? { bias } : {}) });
  });
}

/** gemv for INT8 storage: the same parts and y slices, int8Gemv per part. */
function int8Gemvs(
  device: GPUDevice,
  l: Linear,
  m: number,
  x: GPUBuffer,
  y: GPUBuffer,
  yOffset: number,
): Dispatch[] {
  return l.parts.map((p) => {
    if (!("qweight" in p.buffers)) throw new Error("unreachable: an INT8 part without qweight");
    const yb =
      l.parts.length === 1 && yOffset === 0
        ? y
        : { buffer: y, offset: yOffset + p.row0 * 4, size: p.rows * 4 * m };
    const bias = partBias(l, p);
    return int8Gemv(
      device,
      { m, n: p.rows, k: l.k },
      { x, qweight: p.buffers.qweight, scales: p.buffers.scales, y: yb, ...(bias ? { bias } : {}) },
    );
  });
}

/**
 * Bytes a Linear of this shape and storage takes on this device and its number of row parts (a gather
 * table must be one part: the embedding kernels read one binding), without GPU memory: allocateLinear
 * itself runs against a stand-in device that only records buffer sizes, so the two cannot disagree.
 */
export function linearLayout(
  device: GPUDevice,
  n: number,
  k: number,
  quant: LinearStorage,
  hasBias: boolean,
): { bytes: number; parts: number } {
  const sizes = {
    limits: device.limits,
    createBuffer: (d: GPUBufferDescriptor) => ({ label: d.label ?? "", size: d.size, destroy() {} }),
  } as unknown as GPUDevice;
  const l = allocateLinear(sizes, "layout", n, k, quant, hasBias);
  return { bytes: linearBytes(l), parts: l.parts.length };
}

/** Y = X·Wᵀ for prefill (any m): one tiled GEMM. Split weights are refused (lm_head uses gemv). */
export function gemm(device: GPUDevice, l: Linear, m: number, x: GPUBuffer, y: GPUBuffer): Dispatch {
  const p = l.parts[0]!;
  if (l.parts.length !== 1) {
    throw new ModelFileError(
      `${l.name}: ${l.n}x${l.k} exceeds one storage binding on this device for prefill`,
    );
  }
  if (l.quant === "int8") throw new Error(`${l.name}: INT8 weights have no GEMM (the lm_head runs as GEMV)`);
  const shape = { m, n: l.n, k: l.k };
  const bias = l.bias ? { bias: l.bias } : {};
  return "qweight" in p.buffers
    ? int4Gemm(device, shape, { x, qweight: p.buffers.qweight, scales: p.buffers.scales, y, ...bias })
    : denseGemm(device, shape, "f32", { x, w: p.buffers.w, y, ...bias });
}

export function linearBytes(l: Linear): number {
  return linearBuffers(l).reduce((s, b) => s + b.size, 0);
}

export function destroyLinear(l: Linear): void {
  for (const b of linearBuffers(l)) b.destroy();
}
