// A GPUDevice with the adapter's real limits (DESIGN decision 5: buffers sized to what the GPU allows,
// not WebGPU's defaults) and the optional features the kernels use, or WebGPUUnavailable with a
// sentence a person can act on. One implementation for every host: the SDK's worker, the Node CLI and
// the GPU test harness.
import { WebGPUUnavailable } from "./errors.ts";

/** Features the kernels use when the adapter has them. */
const OPTIONAL_FEATURES: GPUFeatureName[] = ["timestamp-query", "subgroups", "shader-f16"];

export interface WispDevice {
  device: GPUDevice;
  /** Keep these referenced as long as the device: Dawn in Node tears its native instance down when
   * the GPU/adapter objects are garbage-collected, even while a device made from them lives (a
   * segfault mid-dispatch). */
  gpu: GPU;
  adapter: GPUAdapter;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  features: string[];
}

export interface DeviceMessages {
  /** No navigator.gpu at all. */
  noWebGPU: string;
  /** navigator.gpu exists but no adapter is offered (blocklisted GPU, WebGPU switched off). */
  noAdapter: string;
}

export const DEFAULT_DEVICE_MESSAGES: DeviceMessages = {
  noWebGPU: "This browser has no WebGPU support — try Chrome 113+ on a desktop",
  noAdapter:
    "WebGPU is switched off or blocked for this GPU in this browser — try Chrome 113+ on a desktop with hardware acceleration on",
};

export async function requestDevice(
  gpu: GPU | undefined,
  messages: DeviceMessages = DEFAULT_DEVICE_MESSAGES,
): Promise<WispDevice> {
  if (!gpu) throw new WebGPUUnavailable(messages.noWebGPU);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (cause) {
    throw new WebGPUUnavailable(messages.noAdapter, { reason: String(cause) }, { cause });
  }
  if (!adapter) throw new WebGPUUnavailable(messages.noAdapter);
  const requiredLimits: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters; walk the prototype to copy them all.
  const proto = Object.getPrototypeOf(adapter.limits) as object;
  for (const key of Object.keys(Object.getOwnPropertyDescriptors(proto))) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === "number") requiredLimits[key] = value;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: "wisp" });
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
