// "Test my device" in the chat app's model picker (apps/chat, SDK probeDevice): before any download, a
// few seconds of the real kernels at a catalog model's shapes on random weights give an estimate and
// whether it fits. stories260K (the smallest) on SwiftShader with a short timing budget (?probeMs);
// no request for any model file is made; Cancel ends a running test. Screenshots (light, 375 px and
// desktop) go to test-results/.
import { expect, type Page, test } from "@playwright/test";
import { CHAT_URL } from "../playwright.config.ts";

/** Any request for a model's files: the app's /models/ route or the Hugging Face hub. */
const MODEL_FILES = /\/models\/|huggingface\.co|hf\.co/;

async function openModels(page: Page) {
  await page.locator("#model-button").click();
  const dialog = page.getByRole("dialog", { name: "Models" });
  await expect(dialog).toBeVisible();
  return dialog;
}

test("chat app: Test my device estimates tok/s and fit without downloading the model; Cancel stops it", async ({
  page,
}, info) => {
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const modelRequests: string[] = [];
  page.context().on("request", (r) => {
    if (MODEL_FILES.test(r.url())) modelRequests.push(r.url());
  });
  const shot = async (name: string) => {
    await page.waitForTimeout(250);
    await page.screenshot({ path: info.outputPath(`${name}.png`) });
  };
  await page.setViewportSize({ width: 375, height: 812 });
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto(`${CHAT_URL}?probeMs=300`);
  const dialog = await openModels(page);
  const card = dialog.locator('[data-model-id="stories260K-local"]');
  await expect(card.locator(".fit")).toHaveAttribute("data-level", "ok", { timeout: 30_000 });

  await test.step("the test runs with progress, then says ≈ N tok/s and that it fits", async () => {
    const started = Date.now();
    await card.getByRole("button", { name: "Test my device for stories260K (local)" }).click();
    const probe = card.locator(".probe");
    await expect(probe).toHaveAttribute("data-state", "running");
    await expect(card.locator(".probe progress")).toBeVisible();
    // One test at a time: the other models' buttons wait.
    await expect(dialog.getByRole("button", { name: "Test my device for Qwen3 0.6B" })).toBeDisabled();
    const cancel = card.getByRole("button", { name: "Cancel the device test for stories260K (local)" });
    await expect(cancel).toBeFocused();
    await shot("phone-light-probe-running");
    await expect(probe).toHaveAttribute("data-state", "done", { timeout: 300_000 });
    const headline = (await probe.locator(".probe-result").textContent()) ?? "";
    const detail = (await probe.locator(".probe-detail").textContent()) ?? "";
    console.log(
      `probe after ${Date.now() - started} ms: ${headline} — ${detail} [${await probe
        .locator(".probe-result")
        .getAttribute("title")}]`,
    );
    expect(headline).toMatch(/^≈ [\d.]+ tok\/s on this device · fits$/);
    expect(Number(/[\d.]+/.exec(headline)![0])).toBeGreaterThan(0);
    expect(detail).toMatch(/^Needs .+ within the .+ assumed for this GPU/);
    await expect(probe).toHaveAttribute("data-level", "ok");
    await expect(card.getByRole("button", { name: "Test my device for stories260K (local)" })).toHaveText(
      "Test again",
    );
    await shot("phone-light-probe");
    await page.setViewportSize({ width: 1280, height: 800 });
    await shot("desktop-light-probe");
    await page.setViewportSize({ width: 375, height: 812 });
  });

  await test.step("Cancel ends a running test and the card returns to its button", async () => {
    const smol = dialog.locator('[data-model-id="smollm2-360m-instruct"]');
    await smol.getByRole("button", { name: "Test my device for SmolLM2 360M Instruct" }).click();
    await expect(smol.locator(".probe")).toHaveAttribute("data-state", "running");
    await smol.getByRole("button", { name: "Cancel the device test for SmolLM2 360M Instruct" }).click();
    await expect(smol.locator(".probe")).toHaveCount(0);
    await expect(smol.getByRole("button", { name: "Test my device for SmolLM2 360M Instruct" })).toHaveText(
      "Test my device",
    );
    // the finished test's result stays
    await expect(card.locator(".probe")).toHaveAttribute("data-state", "done");
  });

  // No horizontal scrolling at phone width with the result shown.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  console.log(`model file requests: ${JSON.stringify(modelRequests)}`);
  expect(modelRequests).toEqual([]);
  expect(errors).toEqual([]);
});
