// The bench's timers: GPU runs (src/timing.ts, shared with the autotuner) and host → GPU uploads.
import { median } from "../src/timing.ts";

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
