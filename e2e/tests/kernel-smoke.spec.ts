import { chromium, expect, test } from "@playwright/test";
import { CHROMIUM, CHROMIUM_ARGS } from "../playwright.config.ts";

test("kernel smoke cases pass on Chromium's WebGPU", async ({ page }, info) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/kernel-smoke.html");
  await page.waitForFunction(() => window.__wispSmoke?.done === true, undefined, { timeout: 540_000 });
  const state = await page.evaluate(() => window.__wispSmoke!);
  await page.screenshot({ path: info.outputPath("kernel-smoke.png"), fullPage: true });
  expect(state.error, "device acquisition").toBeUndefined();
  expect(errors).toEqual([]);
  expect(state.results.length).toBeGreaterThanOrEqual(5);
  const failed = state.results.filter((r) => !r.ok);
  expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
  console.log(`${state.adapter}: ${state.results.length} smoke cases passed`);
});

test("without WebGPU the harness fails with WebGPUUnavailable instead of skipping", async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto("http://127.0.0.1:5183/kernel-smoke.html");
    await page.waitForFunction(() => window.__wispSmoke?.done === true, undefined, { timeout: 60_000 });
    const state = await page.evaluate(() => window.__wispSmoke!);
    expect(state.results).toEqual([]);
    expect(state.error).toMatch(
      /^WebGPUUnavailable: (no WebGPU adapter found|WebGPU is not available) in Chromium/,
    );
  } finally {
    await browser.close();
  }
});
