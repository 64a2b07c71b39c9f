import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";
import { argmax, llama2cForward, readLlama2c } from "../../packages/runtime/test/reference/llama2c.ts";

const stories = fileURLToPath(new URL("../../../shared/models/stories260K", import.meta.url));

test("stories260K in Chromium: greedy f32 tokens equal llama2.c's forward pass", async ({ page }, info) => {
  const steps = 100;
  const model = readLlama2c(new Uint8Array(readFileSync(`${stories}/original/stories260K.bin`)));
  const forward = llama2cForward(model);
  const expected: number[] = [];
  let token = 1;
  for (let pos = 0; pos < steps; pos++) {
    token = argmax(forward(token, pos));
    expected.push(token);
  }

  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`/runtime.html?model=/@fs${stories}/hf/&quant=f32&maxTokens=${steps}`);
  await page.waitForFunction(() => window.__wispRuntime?.done === true, undefined, { timeout: 540_000 });
  const state = await page.evaluate(() => window.__wispRuntime!);
  await page.screenshot({ path: info.outputPath("runtime-stories260K.png"), fullPage: true });
  expect(state.error).toBeUndefined();
  expect(errors).toEqual([]);
  expect(state.ids).toEqual(expected);
  expect(state.text).toMatch(/^Once upon a time, there was a little girl named Lily\./);
  console.log(`Chromium (SwiftShader): ${steps} tokens at ${state.tokensPerSecond?.toFixed(1)} tok/s`);
});
