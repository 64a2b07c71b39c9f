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

/** The chat app's dev server (tests/chat-app.spec.ts); WISP_CHAT_PORT moves it. */
export const CHAT_PORT = Number(process.env.WISP_CHAT_PORT) || 5184;
export const CHAT_URL = `http://127.0.0.1:${CHAT_PORT}/`;
/** The model bench page (packages/runtime/bench/page; tests/bench-page.spec.ts). */
export const BENCH_URL = "http://127.0.0.1:5187/";

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
  webServer: [
    {
      command: "vite --config pages/vite.config.ts --port 5183 --strictPort --host 127.0.0.1",
      url: "http://127.0.0.1:5183/kernel-smoke.html",
      reuseExistingServer: false,
      timeout: 120_000,
    },
    {
      // The chat app (apps/chat) on its own port; its dev server also serves ../shared/models at /models/.
      command: `vite --config ../apps/chat/vite.config.ts --port ${CHAT_PORT} --strictPort --host 127.0.0.1`,
      url: `${CHAT_URL}index.html`,
      reuseExistingServer: false,
      timeout: 120_000,
    },
    {
      command:
        "vite --config ../packages/runtime/bench/page/vite.config.ts --port 5187 --strictPort --host 127.0.0.1",
      url: `${BENCH_URL}index.html`,
      reuseExistingServer: false,
      timeout: 120_000,
    },
  ],
});
