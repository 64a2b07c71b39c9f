// Node host: WebGPU through Dawn (npm `webgpu`). Without a GPU, Debian chromium's SwiftShader Vulkan
// ICD is used; on the lent NVIDIA machine .device/setup.sh points Vulkan at the real driver.
import { existsSync } from "node:fs";

const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

export async function nodeGpu(): Promise<GPU> {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  // The Vulkan loader complains on stderr without it.
  process.env.XDG_RUNTIME_DIR ??= "/tmp";
  const webgpu = await import("webgpu");
  Object.assign(globalThis, webgpu.globals);
  return webgpu.create([]) as GPU;
}
