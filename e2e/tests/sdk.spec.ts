// @wisp/sdk in Chromium: the built bundles (packages/sdk/dist, built by `pnpm --filter @wisp/sdk build`)
// loaded the way developers load them, the runtime in the SDK's module worker, stories260K from the
// shared models. Pages outside e2e/pages are opened through Vite's /@fs/ so their relative script
// paths (../packages/sdk/dist/wisp.iife.js) resolve as they would on any static server.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium, expect, type Page, test } from "@playwright/test";
import type * as WispSdk from "@wisp/sdk";
import { CHROMIUM, CHROMIUM_ARGS } from "../playwright.config.ts";

declare global {
  interface Window {
    Wisp: typeof WispSdk;
    WispEsm?: typeof WispSdk;
    WispSource?: typeof WispSdk;
    __longTasks?: Array<{ start: number; duration: number }>;
  }
}

const repo = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const dist = `${repo}/packages/sdk/dist`;
const storiesDir = fileURLToPath(new URL("../../../shared/models/stories260K/hf/", import.meta.url));
const MODEL = `/@fs${storiesDir}`;
const PROMPT = "Once upon a time";
const TOKENS = 24;

/** The Node CLI's greedy answer (Dawn), the reference every browser path must equal. */
let cliText: Promise<string>;

test.beforeAll(() => {
  for (const f of ["wisp.js", "wisp.iife.js", "wisp-worker.js", "wisp.d.ts"]) {
    if (!existsSync(`${dist}/${f}`)) {
      throw new Error(`${dist}/${f} is missing: run \`pnpm --filter @wisp/sdk build\` before the e2e tests`);
    }
  }
  // Started once, in parallel with the browser work; the CLI builds itself first.
  cliText = promisify(execFile)(
    "pnpm",
    [
      "--silent",
      "wisp",
      "generate",
      "--model",
      "../shared/models/stories260K/hf",
      "--prompt",
      PROMPT,
      "--max-tokens",
      String(TOKENS),
      "--temperature",
      "0",
      "--quant",
      "int4",
      "--json",
    ],
    { cwd: repo, timeout: 400_000, maxBuffer: 1 << 20 },
  ).then(({ stdout }) => (JSON.parse(stdout.trim().split("\n").at(-1)!) as { text: string }).text);
  cliText.catch(() => {});
});

function trackErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

test("quickstart (plain <script src>): stories260K greedy stream equals the CLI; no long task on the main thread", async ({
  page,
}, info) => {
  const errors = trackErrors(page);
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        window.__longTasks!.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: "longtask", buffered: true });
  });
  const query = new URLSearchParams({
    model: MODEL,
    quant: "int4",
    max_tokens: String(TOKENS),
    temperature: "0",
    prompt: PROMPT,
  });
  await page.goto(`/@fs${repo}/demo/quickstart.html?${query}`);
  await expect(page.locator("#status")).toHaveAttribute("data-state", "ready", { timeout: 300_000 });
  await expect(page.locator("#status")).toContainText("text completion");

  const start = await page.evaluate(() => performance.now());
  await page.click("#generate");
  await expect(page.locator("#answer")).toHaveAttribute("data-done", "true", { timeout: 300_000 });
  const end = await page.evaluate(() => performance.now());
  await page.screenshot({ path: info.outputPath("quickstart.png"), fullPage: true });

  const answer = page.locator("#answer");
  const text = await answer.textContent();
  expect(await answer.getAttribute("data-finish")).toBe("length");
  expect(Number(await answer.getAttribute("data-tokens"))).toBe(TOKENS);
  expect(Number(await answer.getAttribute("data-chunks"))).toBeGreaterThanOrEqual(20);
  await expect(page.locator("#speed")).toContainText("tokens/s");
  expect(text).toBe(await cliText);

  const longTasks = await page.evaluate(() => window.__longTasks!);
  const during = longTasks.filter((t) => t.start + t.duration >= start && t.start <= end && t.duration > 50);
  console.log(
    `generation ${(end - start).toFixed(0)} ms; long tasks during it: ${JSON.stringify(during)} ` +
      `(whole page: ${longTasks.length})`,
  );
  expect(during).toEqual([]);
  expect(errors).toEqual([]);
});

test("IIFE engine: abort stops within one token, the next request answers, concurrent requests queue, typed errors cross the worker", async ({
  page,
}) => {
  const errors = trackErrors(page);
  await page.goto(`/@fs${repo}/e2e/pages/sdk-script.html`);
  await page.waitForFunction(() => window.Wisp !== undefined);
  const r = await page.evaluate(
    async ({ model, prompt, tokens }) => {
      const Wisp = window.Wisp;
      const engine = await Wisp.createEngine({ model, quant: "int4", contextLength: 128 });
      const greedy = { prompt, max_tokens: tokens, temperature: 0 } as const;
      const reference = await engine.completions.create(greedy);

      const controller = new AbortController();
      const stream = await engine.completions.create({
        ...greedy,
        max_tokens: 100,
        stream: true,
        signal: controller.signal,
      });
      let chunks = 0;
      let finish: string | null = null;
      for await (const c of stream) {
        if (c.choices[0]?.text && ++chunks === 5) controller.abort();
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      const aborted = (await engine.stats()).lastRequest!;
      const next = await engine.completions.create(greedy);

      const chat = {
        messages: [{ role: "user" as const, content: "Tell me a story." }],
        max_tokens: 12,
        temperature: 0,
      };
      const [a, b] = await Promise.all([
        engine.completions.create(greedy),
        engine.chat.completions.create({ ...chat, stream: true }).then(async (s) => {
          let t = "";
          for await (const c of s) t += c.choices[0]?.delta.content ?? "";
          return t;
        }),
      ]);
      const bAlone = await engine.chat.completions.create(chat);

      const overflow = await engine.completions
        .create({ prompt: Array.from({ length: 300 }, () => 5), max_tokens: 1 })
        .catch((e: unknown) => e);
      const missing = await Wisp.createEngine({ model: `${model}no-such-model/` }).catch((e: unknown) => e);
      await engine.unload();
      const afterUnload = await engine.completions.create(greedy).catch((e: Error) => e.message);
      const typed = (e: unknown) => {
        const w = e as WispSdk.WispError;
        return { name: w.name, code: w.code, details: w.details, isWisp: e instanceof Wisp.WispError };
      };
      return {
        reference: reference.choices[0]!.text,
        abortFinish: finish,
        chunksBeforeAbort: 5,
        aborted,
        next: next.choices[0]!.text,
        concurrent: [a.choices[0]!.text, b],
        chatAlone: bAlone.choices[0]!.message.content,
        overflow: { ...typed(overflow), is: overflow instanceof Wisp.ContextLengthExceeded },
        missing: { ...typed(missing), is: missing instanceof Wisp.ModelFileError },
        afterUnload,
      };
    },
    { model: MODEL, prompt: PROMPT, tokens: TOKENS },
  );
  console.log(JSON.stringify({ ...r, reference: undefined }, null, 1));
  expect(r.reference).toBe(await cliText);
  expect(r.abortFinish).toBe("abort");
  expect(r.aborted.finishReason).toBe("abort");
  expect(r.aborted.tokensAfterAbort).toBeLessThanOrEqual(1);
  expect(r.aborted.completionTokens).toBeLessThan(100);
  expect(r.next).toBe(r.reference);
  expect(r.concurrent).toEqual([r.reference, r.chatAlone]);
  expect(r.chatAlone.length).toBeGreaterThan(0);
  expect(r.overflow).toMatchObject({
    name: "ContextLengthExceeded",
    code: "CONTEXT_LENGTH_EXCEEDED",
    details: { promptTokens: 300, contextLength: 128 },
    isWisp: true,
    is: true,
  });
  expect(r.missing).toMatchObject({ name: "ModelFileError", code: "MODEL_FILE", isWisp: true, is: true });
  expect(r.afterUnload).toMatch(/unloaded/);
  expect(errors).toEqual([]);
});

for (const [label, url, global] of [
  ["ESM bundle (dist/wisp.js)", `/@fs${repo}/e2e/pages/sdk-script.html`, "WispEsm"],
  ["SDK source through Vite", "/sdk-source.html", "WispSource"],
] as const) {
  test(`${label}: greedy completion equals the CLI`, async ({ page }) => {
    const errors = trackErrors(page);
    await page.goto(url);
    await page.waitForFunction(
      (g) => (window as unknown as Record<string, unknown>)[g] !== undefined,
      global,
    );
    const text = await page.evaluate(
      async ({ g, model, prompt, tokens }) => {
        const Wisp = (window as unknown as Record<string, typeof WispSdk>)[g]!;
        const engine = await Wisp.createEngine({ model, quant: "int4" });
        const r = await engine.completions.create({ prompt, max_tokens: tokens, temperature: 0 });
        await engine.unload();
        return r.choices[0]!.text;
      },
      { g: global, model: MODEL, prompt: PROMPT, tokens: TOKENS },
    );
    expect(text).toBe(await cliText);
    expect(errors).toEqual([]);
  });
}

test("without WebGPU: the quickstart shows WebGPUUnavailable as a sentence, nothing uncaught", async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors = trackErrors(page);
    await page.goto(`http://127.0.0.1:5183/@fs${repo}/demo/quickstart.html?model=${MODEL}`);
    const status = page.locator("#status");
    await expect(status).toHaveAttribute("data-state", "error", { timeout: 60_000 });
    await expect(status).toHaveAttribute("data-error-name", "WebGPUUnavailable");
    const sentence = (await status.textContent()) ?? "";
    console.log(`shown: ${sentence}`);
    expect(sentence).toMatch(
      /^(This browser has no WebGPU support|WebGPU is switched off).* — try Chrome 113\+/,
    );
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
});
