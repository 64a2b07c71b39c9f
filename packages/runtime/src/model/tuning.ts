// Per-device autotuning of the decode GEMVs (the TensorRT/FasterTransformer idea). At load, each
// distinct INT4 GEMV of the model (shape + fused prologue/epilogue, m = 1) times its candidates
// (kernels/src/matmul/int4_gemv_tune.ts: only parameters that keep the output bit for bit) on this
// device, within a bounded budget, and keeps the fastest. Choices are cached by adapter + shape +
// kernel version (IndexedDB in the browser, a JSON file in Node), so a later load times nothing.
import {
  type Dispatch,
  type GemvFusion,
  type GemvShape,
  int4GemvKey as gemvKey,
  type Int4GemvVariant,
  int4Gemv,
  int4GemvCandidates,
  int4GemvPrecompile,
  timeRuns,
} from "@wisp/kernels";
import type { ModelConfig } from "../config.ts";
import { type Linear, storageBuffer, type TunedVariants } from "./linear.ts";
import type { LayerWeights } from "./weights.ts";

/** Where tuning choices persist. */
export interface TuneCache {
  get(key: string): Promise<Int4GemvVariant | undefined>;
  set(key: string, variant: Int4GemvVariant): Promise<void>;
}

export interface TuneOptions {
  /** Persisted choices; without one every load times again. */
  cache?: TuneCache;
  /** Wall-clock budget for timing and compiling candidates (default 2000 ms). */
  budgetMs?: number;
}

export interface TuneReport {
  key: string;
  /** the default's and the chosen variant's time per run (µs); absent when read from the cache */
  defaultUs?: number;
  chosenUs?: number;
  variant: Int4GemvVariant;
  fromCache: boolean;
  /** candidates timed (0 from the cache) */
  timed: number;
}

export interface TuneResult {
  variants: TunedVariants;
  reports: TuneReport[];
  ms: number;
}

/** The adapter, as far as the device tells it (cached choices are only valid on the same GPU). */
export function adapterKey(device: GPUDevice): string {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const parts = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s);
  const l = device.limits;
  // Dawn in Node reports empty strings: the limits then tell devices apart at least by class.
  return `${parts.join("/") || "unknown"}|${l.maxComputeInvocationsPerWorkgroup}|${l.maxComputeWorkgroupStorageSize}|${l.maxStorageBufferBindingSize}`;
}

interface Job {
  key: string;
  shape: GemvShape;
  fuse: GemvFusion;
  /** the job's matrix in a layer, and which of its parts */
  pick: (l: LayerWeights) => Linear;
  part: number;
}

/** The model's decode GEMVs as the graph runs them (llama.ts layers(): fused, INT4, m = 1). */
function decodeJobs(config: ModelConfig, layer: LayerWeights): Job[] {
  const norm = { weight: layer.inputNorm, eps: config.rmsNormEps };
  const list: [(l: LayerWeights) => Linear, GemvFusion][] = [
    [(l) => l.qkv, { norm }],
    [(l) => l.o, { residual: true }],
    [(l) => l.gateUp, { norm: { weight: layer.postNorm, eps: config.rmsNormEps } }],
    [(l) => l.down, { swiglu: true, residual: true }],
  ];
  const jobs: Job[] = [];
  for (const [pick, fuse] of list) {
    const linear = pick(layer);
    if (linear.quant !== "int4") continue;
    linear.parts.forEach((p, part) => {
      const shape = { m: 1, n: p.rows, k: linear.k };
      const key = gemvKey(shape, fuse);
      if (!jobs.some((j) => j.key === key)) jobs.push({ key, shape, fuse, pick, part });
    });
  }
  return jobs;
}

/** Layers whose weights a timed run rotates over: enough that they stream from DRAM, not L2. */
const ROTATION = 4;
/** Rounds over a shape's candidates; each candidate keeps its fastest sample. */
const ROUNDS = 3;

/**
 * Tunes the decode GEMVs of the layers' shapes (every layer has layer 0's). Bit-for-bit safe:
 * candidates differ only in work split. Within the budget: when it runs out, the remaining shapes keep
 * the default. A timed run rotates over the first few layers' weights (as a decode step streams them
 * from DRAM); the GPU is kept busy for a moment first so its clocks are up, and the candidates of a
 * shape are timed round-robin (ROUNDS samples each, interleaved) so a clock change or a disturbance
 * hits all of them alike.
 */
export async function tuneDecodeGemvs(
  device: GPUDevice,
  config: ModelConfig,
  layers: readonly LayerWeights[],
  opts: TuneOptions = {},
): Promise<TuneResult> {
  const layer = layers[0];
  if (!layer) throw new RangeError("tuneDecodeGemvs: no layers");
  const t0 = performance.now();
  const budget = opts.budgetMs ?? 2000;
  const adapter = adapterKey(device);
  const variants = new Map<string, Int4GemvVariant>();
  const reports: TuneReport[] = [];
  const jobs = decodeJobs(config, layer);
  // Scratch x (the widest input: gate_up for swiglu) and y; the weights are the real layer's.
  const xWords = Math.max(...jobs.map((j) => (j.fuse.swiglu ? 2 : 1) * j.shape.k), 4);
  const yWords = Math.max(...jobs.map((j) => j.shape.n), 4);
  const x = storageBuffer(device, "tune.x", xWords * 4);
  const y = storageBuffer(device, "tune.y", yWords * 4);
  try {
    // Every uncached candidate's pipeline is compiled in parallel first (the driver may use several
    // threads); timing then never waits on a compile. What is not ready by the deadline is skipped.
    const cached = new Map<string, Int4GemvVariant>();
    for (const job of jobs) {
      const hit = await opts.cache?.get(`${adapter}|${job.key}`);
      if (hit) cached.set(job.key, hit);
    }
    const compiled = new Set<string>();
    const compiles = jobs
      .filter((job) => !cached.has(job.key))
      .flatMap((job) =>
        int4GemvCandidates(device, job.shape, job.fuse).map((v) =>
          int4GemvPrecompile(device, job.shape, v, job.fuse).then(
            () => void compiled.add(`${job.key}|${JSON.stringify(v)}`),
            () => undefined,
          ),
        ),
      );
    await Promise.race([Promise.all(compiles), sleep(budget / 2)]);
    const firstTimed = jobs.findIndex((j) => !cached.has(j.key));
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      const hit = cached.get(job.key);
      if (hit) {
        variants.set(job.key, hit);
        reports.push({ key: job.key, variant: hit, fromCache: true, timed: 0 });
        continue;
      }
      // An even share of what is left for each remaining shape.
      const left = budget - (performance.now() - t0);
      if (left <= 0) {
        // Out of budget: the remaining shapes run the default (reported, not cached).
        const variant = int4GemvCandidates(device, job.shape, job.fuse, 1)[0]!;
        reports.push({ key: job.key, variant, fromCache: false, timed: 0 });
        continue;
      }
      const deadline = performance.now() + left / (jobs.length - i);
      const rotation = layers.slice(0, ROTATION).flatMap((l) => {
        const p = job.pick(l).parts[job.part];
        return p && "qweight" in p.buffers ? [p.buffers] : [];
      });
      if (!rotation.length) continue;
      const runsOf = (v: Int4GemvVariant): Dispatch[][] =>
        rotation.map((b) => [
          int4Gemv(device, job.shape, { x, qweight: b.qweight, scales: b.scales, y }, v, job.fuse),
        ]);
      // The default and the candidates built in time (the default is always timed).
      const all = int4GemvCandidates(device, job.shape, job.fuse);
      const candidates = all.filter((v, c) => c === 0 || compiled.has(`${job.key}|${JSON.stringify(v)}`));
      const runs = candidates.map(runsOf);
      // Size a sample to ~1 ms of GPU time from one run of the default; the first shape also keeps
      // the GPU busy ~30 ms first, so timing starts at working clocks.
      const probe = await timeRuns(device, runs[0]!, { reps: 1, samples: 1, warmup: 1 });
      const per = Math.max(probe.seconds, 1e-7);
      if (i === firstTimed && per < 3e-3) {
        await timeRuns(device, runs[0]!, {
          reps: Math.min(4000, Math.ceil(0.03 / per)),
          samples: 1,
          warmup: 0,
        });
      }
      const reps = Math.min(200, Math.max(1, Math.round(1e-3 / per)));
      const samples: number[][] = candidates.map(() => []);
      rounds: for (let round = 0; round < ROUNDS; round++) {
        for (let c = 0; c < candidates.length; c++) {
          if ((round > 0 || c > 0) && performance.now() > deadline) break rounds;
          const t = await timeRuns(device, runs[c]!, { reps, samples: 1, warmup: round === 0 ? 1 : 0 });
          samples[c]!.push(t.seconds);
        }
      }
      const timed = samples.filter((t) => t.length > 0).length;
      const complete = candidates.length === all.length && samples.every((t) => t.length === ROUNDS);
      const defaultS = Math.min(...samples[0]!);
      let best = { v: candidates[0]!, s: defaultS };
      samples.forEach((t, c) => {
        if (t.length && Math.min(...t) < best.s) best = { v: candidates[c]!, s: Math.min(...t) };
      });
      // Keep the default unless a candidate is clearly faster (timing noise is a few percent).
      const chosen = best.s < defaultS * 0.97 ? best : { v: candidates[0]!, s: defaultS };
      variants.set(job.key, chosen.v);
      // Persist only a complete comparison (a budget cut short is retried at the next load).
      if (complete) await opts.cache?.set(`${adapter}|${job.key}`, chosen.v);
      reports.push({
        key: job.key,
        variant: chosen.v,
        defaultUs: defaultS * 1e6,
        chosenUs: chosen.s * 1e6,
        fromCache: false,
        timed,
      });
    }
  } finally {
    x.destroy();
    y.destroy();
  }
  return { variants, reports, ms: performance.now() - t0 };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A cache in memory (tests, one process). */
export function memoryTuneCache(): TuneCache & { entries: Map<string, Int4GemvVariant> } {
  const entries = new Map<string, Int4GemvVariant>();
  return {
    entries,
    get: async (k) => entries.get(k),
    set: async (k, v) => {
      entries.set(k, v);
    },
  };
}
