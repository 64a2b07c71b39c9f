// What the page can learn about the GPU before loading anything: WebGPU present, the adapter's name
// and the two limits that decide whether a model's largest weight fits in one buffer.
import type { DeviceInfo } from "./catalog.ts";

export async function readDeviceInfo(): Promise<DeviceInfo> {
  const memory = (navigator as { deviceMemory?: number }).deviceMemory;
  const deviceMemory = typeof memory === "number" ? memory * 2 ** 30 : undefined;
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return { webgpu: false, ...(deviceMemory ? { deviceMemory } : {}) };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    adapter = null;
  }
  if (!adapter) return { webgpu: false, ...(deviceMemory ? { deviceMemory } : {}) };
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const text = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ");
  const software =
    /swiftshader|llvmpipe|software|microsoft basic/i.test(text) ||
    Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter);
  const name = /swiftshader/i.test(text)
    ? "SwiftShader (software)"
    : info?.description || [info?.vendor, info?.architecture].filter(Boolean).join(" ") || "a WebGPU GPU";
  return {
    webgpu: true,
    adapter: name,
    software,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    ...(deviceMemory ? { deviceMemory } : {}),
  };
}
