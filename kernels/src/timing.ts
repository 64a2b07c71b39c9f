// GPU timing (the bench and the autotuner): with timestamp-query, the pass's own begin/end timestamps (no submit overhead); without
// it, wall clock around submit + onSubmittedWorkDone. Each sample encodes `reps` runs in one pass.
import { type Dispatch, encodeDispatch } from "./kernel.ts";

export interface Timing {
  /** median seconds per run */
  seconds: number;
  samples: number[];
  method: "timestamp" | "wallclock";
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function timeRuns(
  device: GPUDevice,
  runs: readonly Dispatch[][],
  opts: { reps: number; samples: number; warmup?: number },
): Promise<Timing> {
  const useTs = device.features.has("timestamp-query");
  const querySet = useTs ? device.createQuerySet({ type: "timestamp", count: 2 }) : undefined;
  const resolve = useTs
    ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC })
    : undefined;
  const read = useTs
    ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
    : undefined;
  const one = async (): Promise<number> => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(
      querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
    );
    // Rotate over the copies of the inputs so repeated runs do not just hit the L2 cache.
    for (let r = 0; r < opts.reps; r++) for (const d of runs[r % runs.length]!) encodeDispatch(pass, d);
    pass.end();
    if (querySet && resolve && read) {
      enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
    }
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = (performance.now() - t0) / 1e3;
    if (!read) return wall / opts.reps;
    await read.mapAsync(GPUMapMode.READ);
    const [a, b] = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    return Number(b! - a!) / 1e9 / opts.reps;
  };
  for (let i = 0; i < (opts.warmup ?? 2); i++) await one();
  const samples: number[] = [];
  for (let i = 0; i < opts.samples; i++) samples.push(await one());
  querySet?.destroy();
  return { seconds: median(samples), samples, method: useTs ? "timestamp" : "wallclock" };
}
