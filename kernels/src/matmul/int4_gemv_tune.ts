// Autotuning candidates for the INT4 GEMV. Only the parameters that leave every output's arithmetic
// unchanged vary: rows per workgroup (tr), blocks per step (unroll), the staged x chunk and prefetch.
// Each thread sums the blocks b ≡ tk (mod TK) of its rows in increasing order and the TK partials meet
// in a fixed order, so the result depends on TK alone; TK stays the default's, and a tuned GEMV is bit
// for bit the default one (kernels/test/cases/int4_gemv.ts checks every candidate).
import { compileAsync } from "../kernel.ts";
import {
  defaultInt4GemvVariant,
  type GemvFusion,
  type GemvShape,
  type Int4GemvVariant,
  int4GemvConstants,
  int4GemvSource,
} from "./int4_gemv.ts";

/** Bumped when the GEMV's code changes what is fastest: cached choices of older versions are ignored. */
export const INT4_GEMV_TUNE_VERSION = 2;

/**
 * The variants worth timing at this shape, the default first, each valid on this device (threads and
 * workgroup memory within its limits). At most `max` (the tuner's time goes to compiling them).
 */
export function int4GemvCandidates(
  device: GPUDevice,
  shape: GemvShape,
  fuse: GemvFusion = {},
  max = 8,
): Int4GemvVariant[] {
  const d = defaultInt4GemvVariant(shape);
  const seen = new Set<string>();
  const out: Int4GemvVariant[] = [];
  const add = (v: Int4GemvVariant) => {
    const key = JSON.stringify(v);
    if (seen.has(key) || out.length >= max) return;
    try {
      int4GemvConstants(device, shape, v, false, fuse);
    } catch {
      return; // over a device limit
    }
    seen.add(key);
    out.push(v);
  };
  add(d);
  // Fewer rows per workgroup give small n more workgroups; more rows stage x fewer times per byte.
  for (const tr of [d.tr / 2, d.tr * 2]) if (Number.isInteger(tr) && tr >= 1) add({ ...d, tr });
  add({ ...d, unroll: 2 });
  add({ ...d, prefetch: false });
  add({ ...d, tr: d.tr * 2, unroll: 2 });
  add({ ...d, chunk: 2 * d.tk });
  add({ ...d, tr: d.tr / 2 >= 1 ? d.tr / 2 : d.tr, unroll: 2 });
  return out;
}

/** The key of one GEMV for tuning choices: shape and fusion (a norm's eps and weight do not matter). */
export function int4GemvKey(shape: GemvShape, fuse: GemvFusion = {}): string {
  const f = `${fuse.norm ? "n" : ""}${fuse.swiglu ? "s" : ""}${fuse.residual ? "r" : ""}`;
  return `int4_gemv.v${INT4_GEMV_TUNE_VERSION} m${shape.m} n${shape.n} k${shape.k}${f ? ` ${f}` : ""}`;
}

/** Builds a variant's pipeline without blocking (int4Gemv then finds it compiled). */
export function int4GemvPrecompile(
  device: GPUDevice,
  shape: GemvShape,
  v: Int4GemvVariant,
  fuse: GemvFusion = {},
  hasBias = false,
): Promise<void> {
  return compileAsync(device, int4GemvSource, int4GemvConstants(device, shape, v, hasBias, fuse));
}
