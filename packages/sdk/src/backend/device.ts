// A GPUDevice with the adapter's real limits (DESIGN decision 5: buffers sized to what the GPU allows,
// not WebGPU's defaults), or WebGPUUnavailable with a sentence a person can act on.
import { WebGPUUnavailable } from "@wisp/runtime";
import { NO_ADAPTER, NO_WEBGPU } from "./messages.ts";

/** Features the kernels use when present. */
const OPTIONAL_FEATURES: GPUFeatureName[] = ["timestamp-query", "subgroups", "shader-f16"];

export interface AcquiredGpu {
  device: GPUDevice;
  /** Kept referenced with the device: Dawn (Node) tears its instance down when these are collected. */
  adapter: GPUAdapter;
  description: string;
}

export async function requestWispDevice(gpu: GPU | undefined): Promise<AcquiredGpu> {
  if (!gpu) throw new WebGPUUnavailable(NO_WEBGPU);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (cause) {
    throw new WebGPUUnavailable(NO_ADAPTER, { reason: String(cause) }, { cause });
  }
  if (!adapter) throw new WebGPUUnavailable(NO_ADAPTER);
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
  const description =
    [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ") || "WebGPU adapter";
  return { device, adapter, description };
}
