import { type Dispatch, grid1d, type KernelSource, makeDispatch } from "../src/kernel.ts";
import code from "./copy.wgsl?raw";

const copySource: KernelSource = { name: "copy", code, bindings: ["read-only-storage", "storage"] };

/** A copy of `bytes` (multiple of 16) between two fresh buffers; moves 2·bytes per run. */
export function copyDispatch(device: GPUDevice, bytes: number): Dispatch {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const src = device.createBuffer({ size: bytes, usage });
  const dst = device.createBuffer({ size: bytes, usage });
  // Non-zero contents: never time on zeros.
  const chunk = new Float32Array(1 << 20).map((_, i) => (i % 251) + 1);
  for (let off = 0; off < bytes; off += chunk.byteLength) {
    device.queue.writeBuffer(src, off, chunk, 0, Math.min(chunk.length, (bytes - off) / 4));
  }
  return makeDispatch(device, copySource, {}, [src, dst], grid1d(device, Math.ceil(bytes / 16 / 256)));
}
