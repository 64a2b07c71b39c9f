import {
  type Binding,
  type Constants,
  ceilDiv,
  type Dispatch,
  type KernelSource,
  makeDispatch,
  uniform,
} from "../kernel.ts";
import tileMain from "./gemm_tile_main.wgsl?raw";
import formatCode from "./int4_gemm.wgsl?raw";

export const int4GemmSource: KernelSource = {
  name: "int4_gemm",
  code: `${formatCode}\n${tileMain}`,
  bindings: [
    "uniform",
    "read-only-storage",
    "read-only-storage",
    "read-only-storage",
    "read-only-storage",
    "storage",
  ],
};

/**
 * A GEMM tiling: each workgroup computes bm×bn outputs with (bm/tm)·(bn/tn) threads, each thread a
 * tm×tn register micro-tile. Shared by int4_gemm and dense_gemm (same override names).
 */
export interface GemmTile {
  bm: number;
  bn: number;
  tm: number;
  tn: number;
}

/**
 * Tilings worth timing (the bench runs each). On an H100 through Dawn/Vulkan at M = 512,
 * N = K = 4096 (median of 15 × 5 runs; int4 / f32 TFLOP/s): 128×128/8×8 28.6 / 28.2, 64×128/8×8
 * 25.9 / 21.2, 128×64/8×8 23.8 / 14.9, 64×128/4×8 16.5 / 17.5, 64×64/4×4 12.5 / 17.3. Repeat runs
 * of one configuration varied by up to 3× on that machine (shared), so rerun before trusting small gaps.
 * 64×64/4×4 is also the fallback for devices with only 16 KiB of workgroup memory.
 */
export const gemmTileCandidates: readonly GemmTile[] = [
  { bm: 128, bn: 128, tm: 8, tn: 8 }, // 256 threads, 32 KiB workgroup memory
  { bm: 64, bn: 128, tm: 8, tn: 8 }, // 128 threads, 24 KiB
  { bm: 128, bn: 64, tm: 8, tn: 8 }, // 128 threads, 24 KiB
  { bm: 64, bn: 128, tm: 4, tn: 8 }, // 256 threads, 24 KiB
  { bm: 64, bn: 64, tm: 4, tn: 4 }, // 256 threads, 16 KiB: fits every device
];

/** Workgroup memory of a tiling: x and W tiles of 32 k, f32. */
export const gemmTileBytes = (t: GemmTile): number => (t.bm + t.bn) * 32 * 4;

/** Threads per workgroup of a tiling. */
export const gemmTileThreads = (t: GemmTile): number => (t.bm / t.tm) * (t.bn / t.tn);

/**
 * Checks a tiling against the kernels' assumptions and the device limits and returns its override
 * constants. `wordsPerRowBlock` is how many staging loads one weight row of a 32-k block takes
 * (int4: 4 words, dense: 8 vec4), since each thread must get a whole number of them.
 */
export function gemmTileConstants(device: GPUDevice, t: GemmTile, wordsPerRowBlock: number): Constants {
  const bad = (why: string): never => {
    throw new Error(`gemm tile ${t.bm}x${t.bn}/${t.tm}x${t.tn}: ${why}`);
  };
  if (t.bm % 32 !== 0 || t.bn % 32 !== 0 || t.bm <= 0 || t.bn <= 0) bad("bm and bn must be multiples of 32");
  if (![4, 8].includes(t.tm) || ![4, 8].includes(t.tn)) bad("tm and tn must be 4 or 8");
  // Threads are laid out in 32-lane groups of 8 (along n) × 4 (along m).
  if ((t.bn / t.tn) % 8 !== 0 || (t.bm / t.tm) % 4 !== 0) bad("bn/tn must be a multiple of 8, bm/tm of 4");
  const wg = gemmTileThreads(t);
  if (wg > device.limits.maxComputeInvocationsPerWorkgroup) bad(`${wg} threads over the device limit`);
  const bytes = gemmTileBytes(t);
  if (bytes > device.limits.maxComputeWorkgroupStorageSize)
    bad(`${bytes} B of workgroup memory over the limit`);
  // Staging loads must split into a whole number per thread, at most 8 (the register arrays).
  const xt = (t.bm * 8) / wg;
  const wt = (t.bn * wordsPerRowBlock) / wg;
  if (!Number.isInteger(xt) || xt < 1 || xt > 8) bad(`x staging ${xt} per thread (need an integer 1..8)`);
  if (!Number.isInteger(wt) || wt < 1 || wt > 8) bad(`W staging ${wt} per thread (need an integer 1..8)`);
  return { BM: t.bm, BN: t.bn, TM: t.tm, TN: t.tn };
}

const fitsDevice = (device: GPUDevice, t: GemmTile): boolean =>
  gemmTileBytes(t) <= device.limits.maxComputeWorkgroupStorageSize &&
  gemmTileThreads(t) <= device.limits.maxComputeInvocationsPerWorkgroup;

/**
 * The default tiling: 128×128/8×8 once M fills it, 64×128/8×8 for shorter prompts (half the wasted
 * rows, twice the workgroups), 64×64/4×4 where the device has only 16 KiB of workgroup memory.
 */
export function defaultGemmTile(device: GPUDevice, m: number): GemmTile {
  const [big, mid] = gemmTileCandidates as [GemmTile, GemmTile];
  if (m > 256 && fitsDevice(device, big)) return big;
  if (fitsDevice(device, mid)) return mid;
  return gemmTileCandidates[gemmTileCandidates.length - 1]!;
}

const dummies = new WeakMap<GPUDevice, GPUBuffer>();

/** A 16-byte storage buffer bound where an optional input (bias) is absent. */
export function dummyStorage(device: GPUDevice): GPUBuffer {
  let b = dummies.get(device);
  if (!b) {
    b = device.createBuffer({ label: "gemm.nobias", size: 16, usage: GPUBufferUsage.STORAGE });
    dummies.set(device, b);
  }
  return b;
}

export function gemmGrid(device: GPUDevice, m: number, n: number, t: GemmTile): [number, number, number] {
  const grid: [number, number, number] = [ceilDiv(n, t.bn), ceilDiv(m, t.bm), 1];
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (grid[0] > max || grid[1] > max) throw new Error(`gemm grid ${grid} over the device limit ${max}`);
  return grid;
}

export interface GemmShape {
  /** rows of x and y (tokens) */
  m: number;
  /** rows of W, columns of y (outputs) */
  n: number;
  /** columns of x and W (inputs); any K ≥ 1, the last quant block zero-padded */
  k: number;
}

/**
 * y = x·Wᵀ (+ bias) with INT4 W (src/format/int4.ts).
 * x: (m, k) f32; qweight: (n·kb·4) u32; scales: (ceil(n·kb/2)) u32; bias: (n) f32 or absent;
 * y: (m, n) f32, may not alias x.
 */
export function int4Gemm(
  device: GPUDevice,
  shape: GemmShape,
  io: { x: Binding; qweight: Binding; scales: Binding; bias?: Binding; y: Binding },
  tile: GemmTile = defaultGemmTile(device, shape.m),
): Dispatch {
  const { m, n, k } = shape;
  const kb = ceilDiv(k, 32);
  const constants = { ...gemmTileConstants(device, tile, 4), HAS_BIAS: io.bias ? 1 : 0 };
  const params = uniform(device, "int4_gemm.params", [m, n, k, kb]);
  return makeDispatch(
    device,
    int4GemmSource,
    constants,
    [params, io.x, io.qweight, io.scales, io.bias ?? dummyStorage(device), io.y],
    gemmGrid(device, m, n, tile),
  );
}
