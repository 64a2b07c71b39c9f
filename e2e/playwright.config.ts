import { defineConfig } from "@playwright/test";

// Debian's chromium (never a downloaded browser). WebGPU comes from SwiftShader without a GPU.
export const CHROMIUM = process.env.WISP_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export default defineConfig({
  testDir: "tests",
  timeout: 600_000,
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: "http://127.0.0.1:5183",
    launchOptions: { executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, "--enable-unsafe-webgpu"] },
  },
  webServer: {
    command: "vite --config pages/vite.config.ts --port 5183 --strictPort --host 127.0.0.1",
    url: "http://127.0.0.1:5183/kernel-smoke.html",
    reuseExistingServer: false,
    timeout: 120_000,
  },
});
