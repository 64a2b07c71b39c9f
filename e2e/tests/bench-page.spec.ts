// The model bench page (packages/runtime/bench/page) in Chromium: the Node bench's measurement on the
// browser's WebGPU (SwiftShader here, so ?quick: one tiny shape). The table fills in, the numbers are
// the engine's real counters (6 dispatches per layer: RoPE + KV append ride in the attention split; one submit per token), and nothing is fetched
// but the page's own modules.
import { expect, test } from "@playwright/test";
import { BENCH_URL } from "../playwright.config.ts";

test("the bench page measures a tiny shape on the browser's WebGPU", async ({ page }) => {
  const external: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(BENCH_URL)) external.push(r.url());
  });
  await page.goto(`${BENCH_URL}index.html?quick`);
  await page.waitForFunction(() => window.__wispBench?.done === true, undefined, { timeout: 540_000 });
  const state = await page.evaluate(() => window.__wispBench!);
  expect(state.error).toBeUndefined();
  expect(state.copyGBs).toBeGreaterThan(0);
  expect(state.rows).toHaveLength(1);
  const r = state.rows[0]!;
  expect(r.shape).toBe("tiny-llama");
  expect(r.decodeTokS128).toBeGreaterThan(0);
  expect(r.tunedDecodeTokS128).toBeGreaterThan(0);
  expect(r.q8DecodeTokS128).toBeGreaterThan(0);
  expect(r.prefillTokS512).toBeGreaterThan(0);
  expect(r.dispatchesPerLayer).toBe(6);
  expect(r.submitsPerToken).toBeLessThan(1.5);
  await expect(page.locator("#results tbody tr")).toHaveCount(1);
  await expect(page.locator("#status")).toContainText("done");
  expect(external).toEqual([]);
  await page.screenshot({ path: "test-results/bench-page.png", fullPage: true });
  console.log(
    `bench page (SwiftShader): copy ${state.copyGBs!.toFixed(2)} GB/s, decode ${r.decodeTokS128.toFixed(1)} tok/s (q8 ${r.q8DecodeTokS128!.toFixed(1)}, tuned ${r.tunedDecodeTokS128!.toFixed(1)}), prefill ${r.prefillTokS512!.toFixed(0)} tok/s`,
  );
});
