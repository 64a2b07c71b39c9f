// Host-agnostic: given a GPU (navigator.gpu in a browser, Dawn's in Node), acquire a device with the
// adapter's real limits. No adapter is an error, never a skip.

import { requestDevice, type WispDevice } from "@wisp/runtime";

export type AcquiredDevice = WispDevice;

/** The runtime's device acquisition (real limits, optional features), with messages naming the host.
 * No adapter throws WebGPUUnavailable: a test then fails, it never skips. */
export function acquireDevice(gpu: GPU | undefined, where: string): Promise<AcquiredDevice> {
  return requestDevice(gpu, {
    noWebGPU: `WebGPU is not available in ${where} (no navigator.gpu)`,
    noAdapter: `no WebGPU adapter found in ${where}`,
  });
}

/** Runs fn inside validation, out-of-memory and internal error scopes; any captured error throws. */
export async function withErrorScopes<T>(device: GPUDevice, fn: () => Promise<T> | T): Promise<T> {
  device.pushErrorScope("validation");
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("internal");
  let result: T | undefined;
  let thrown: unknown;
  try {
    result = await fn();
  } catch (e) {
    thrown = e;
  }
  const internal = await device.popErrorScope();
  const oom = await device.popErrorScope();
  const validation = await device.popErrorScope();
  const errors = [validation, oom, internal].filter((e): e is GPUError => e !== null);
  if (errors.length > 0) {
    const kinds = ["validation", "out-of-memory", "internal"];
    const text = [validation, oom, internal]
      .map((e, i) => (e ? `${kinds[i]}: ${e.message}` : ""))
      .filter(Boolean)
      .join("\n");
    throw new Error(`WebGPU error during test:\n${text}`);
  }
  if (thrown !== undefined) throw thrown;
  return result as T;
}
