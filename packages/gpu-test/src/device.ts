// Host-agnostic: given a GPU (navigator.gpu in a browser, Dawn's in Node), acquire a device with the
// adapter's real limits. No adapter is an error, never a skip.

export class NoAdapterError extends Error {
  override name = "NoAdapterError";
}

/** Features the kernels may use when present; the device asks for those the adapter has. */
const OPTIONAL_FEATURES: GPUFeatureName[] = ["timestamp-query", "subgroups", "shader-f16"];

export interface AcquiredDevice {
  device: GPUDevice;
  /** Kept referenced: Dawn in Node tears the native instance down when the GPU/adapter objects are
   * garbage-collected, even while a device made from them is alive (a segfault mid-test). */
  gpu: GPU;
  adapter: GPUAdapter;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  features: string[];
}

export async function acquireDevice(gpu: GPU | undefined, where: string): Promise<AcquiredDevice> {
  if (!gpu) throw new NoAdapterError(`WebGPU is not available in ${where} (no navigator.gpu)`);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NoAdapterError(`no WebGPU adapter found in ${where}`);
  const requiredLimits: Record<string, number> = {};
  // The limits object exposes its fields as prototype getters; walk the prototype to copy them all.
  const proto = Object.getPrototypeOf(adapter.limits) as object;
  for (const key of Object.keys(Object.getOwnPropertyDescriptors(proto))) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === "number") requiredLimits[key] = value;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  return {
    device,
    gpu,
    adapter,
    adapterInfo: {
      vendor: info?.vendor ?? "",
      architecture: info?.architecture ?? "",
      device: info?.device ?? "",
      description: info?.description ?? "",
    },
    features: [...device.features].map(String).sort(),
  };
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
