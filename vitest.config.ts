import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";

// Dawn reads the Vulkan ICD from the environment when it loads; set it before the test workers start.
// Without a GPU, Debian chromium's SwiftShader; on the lent GPU, .device/setup.sh sets VK_DRIVER_FILES.
const swiftshader = "/usr/lib/chromium/vk_swiftshader_icd.json";
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(swiftshader)) {
  process.env.VK_ICD_FILENAMES = swiftshader;
}
process.env.XDG_RUNTIME_DIR ??= "/tmp";

// GPU tests share one device per worker; SwiftShader is CPU-bound, so keep file parallelism low.
export default defineConfig({
  test: {
    include: ["kernels/test/**/*.test.ts", "packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
