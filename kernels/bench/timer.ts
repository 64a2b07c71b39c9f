// The bench's timers: GPU runs (src/timing.ts, shared with the autotuner) and host → GPU uploads.
import type { Dispatch } from "../src/kernel.ts";
import { median, timeRuns } from "../src/timing.ts";

export { type Timing, timeRuns } from "../src/timing.ts";

/** Host → GPU upload bandwidth through queue.writeBuffer (bytes/s), median of a few rounds. */
export async function writeBufferBandwidth(device: GPUDevice, bytes: number, rounds = 5): Promise<number> {
  const buf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const data = new Uint8Array(bytes).map((_, i) => (i * 31 + 7) & 0xff);
  const times: number[] = [];
  for (let i = 0; i < rounds + 1; i++) {
    const t0 = performance.now();
    device.queue.writeBuffer(buf, 0, data);
    await device.queue.onSubmittedWorkDone();
    if (i > 0) times.push((performance.now() - t0) / 1e3);
  }
  buf.destroy();
  return bytes / median(times);
}

/**
 * Keeps the GPU busy with `d` for about `seconds` before anything is timed. Measured on an H200
 * (2026-11-21): the first ~10 s of a process ran small kernels up to 2x slower than later (clocks
 * coming up), so a ranking taken cold is not a ranking.
 */
export async function warmUp(device: GPUDevice, d: Dispatch, seconds: number): Promise<void> {
  const t0 = performance.now();
  while ((performance.now() - t0) / 1e3 < seconds) {
    await timeRuns(device, [[d]], { reps: 20, samples: 1, warmup: 0 });
  }
}
