// <wisp-chat> in Chromium: demo/article.html (two elements naming the same model, the SDK from one
// <script src="../packages/sdk/dist/wisp.iife.js">) opened through Vite's /@fs/, stories260K from the
// shared models. Stories260K has no chat template, so the runtime's fallback template renders the chat.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, expect, type Page, test } from "@playwright/test";
import type * as WispSdk from "@wisp/sdk";
import { CHROMIUM, CHROMIUM_ARGS } from "../playwright.config.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const dist = `${repo}/packages/sdk/dist`;
const storiesDir = fileURLToPath(new URL("../../../shared/models/stories260K/hf/", import.meta.url));
const MODEL = `/@fs${storiesDir}`;
const ARTICLE = `/@fs${repo}/demo/article.html`;

test.beforeAll(() => {
  if (!existsSync(`${dist}/wisp.iife.js`) || !existsSync(`${dist}/wisp-worker.js`)) {
    throw new Error(`${dist} is missing the bundles: run \`pnpm --filter @wisp/sdk build\` first`);
  }
});

function trackErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

/** Waits for the element's reply to finish; returns its text, finish reason, token count and meta line. */
async function lastReply(page: Page, chat: string) {
  const reply = page.locator(`${chat} .message.assistant`).last();
  await expect(reply).toHaveAttribute("data-finish", /.+/, { timeout: 120_000 });
  return {
    text: (await reply.locator(".bubble").textContent()) ?? "",
    finish: await reply.getAttribute("data-finish"),
    tokens: Number(await reply.getAttribute("data-tokens")),
    meta: (await reply.locator(".meta").textContent()) ?? "",
  };
}

test("article page: two <wisp-chat> share one stories260K engine, stream replies with tokens/s, Stop works", async ({
  page,
  baseURL,
}, info) => {
  const errors = trackErrors(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  // Every fetch of the model's config.json (from the page or its workers) and every SDK worker started.
  const configRequests: string[] = [];
  page.context().on("request", (r) => {
    if (/\/stories260K\/hf\/config\.json(?:$|\?)/.test(r.url())) configRequests.push(r.url());
  });
  const workers: string[] = [];
  page.on("worker", (w) => {
    if (w.url().includes("wisp-worker")) workers.push(w.url());
  });
  const loadStart = Date.now();
  const query = new URLSearchParams({ model: MODEL, max_tokens: "24", temperature: "0" });
  await page.goto(`${ARTICLE}?${query}`);

  const article = "#article-chat";
  const sidebar = "#sidebar-chat";
  // Loading: a <progress> with the phase in its label (CSS locators pierce the open shadow roots).
  await expect(page.locator(`${article} progress`)).toBeVisible();
  await expect(page.locator(`${article} .loading label`)).toHaveText(
    /^(Loading the model…|(Downloading|Preparing) the weights|Compiling|Warming)/,
  );
  await page.locator(sidebar).screenshot({ path: info.outputPath("wisp-chat-sidebar-loading.png") });
  for (const chat of [article, sidebar]) {
    await expect(page.locator(`${chat} .box`)).toHaveAttribute("data-state", "ready", { timeout: 300_000 });
    await expect(page.locator(`${chat} progress`)).toBeHidden();
    await expect(page.locator(`${chat} button`)).toHaveText("Send");
  }
  console.log(`both elements ready after ${Date.now() - loadStart} ms`);
  await expect(page.locator(`${article} .model`)).toHaveText("stories260K/hf");
  await expect(page.locator(`${article} [role="log"]`)).toHaveAttribute("aria-live", "polite");
  await expect(page.getByRole("textbox", { name: "Message" })).toHaveCount(2);
  // Each box is a region named by its title slot; its controls have names.
  const region = page.getByRole("region", { name: "Ask the baking assistant" });
  await expect(region.getByRole("log", { name: "Conversation" })).toBeVisible();
  await expect(region.getByRole("button", { name: "Send" })).toBeEnabled();
  await page.screenshot({ path: info.outputPath("article-desktop-ready.png"), fullPage: true });

  await test.step("Shift+Enter is a new line; Enter sends and streams a reply with tokens/s", async () => {
    const input = page.locator(`${article} textarea`);
    await input.click();
    await page.keyboard.type("Tell me a story.");
    await page.keyboard.press("Shift+Enter");
    await expect(input).toHaveValue("Tell me a story.\n");
    await expect(page.locator(`${article} .message`)).toHaveCount(0);
    await page.keyboard.press("Backspace");
    await page.keyboard.press("Enter");
    await expect(input).toHaveValue("");
    await expect(page.locator(`${article} .message.user .bubble`)).toHaveText("Tell me a story.");
    const reply = await lastReply(page, article);
    console.log(`article chat: ${JSON.stringify(reply)}`);
    expect(reply.text.trim().length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(reply.finish);
    expect(reply.tokens).toBeGreaterThan(0);
    expect(reply.tokens).toBeLessThanOrEqual(24);
    expect(reply.meta).toMatch(/^\d+ tokens? · \d+(\.\d)? tokens\/s/);
    await expect(page.locator(`${article} .box`)).toHaveAttribute("data-state", "ready");
    await expect(page.locator(`${article} .status`)).toHaveText("Ready");
  });

  await test.step("the second element answers too (Send button, keyboard only)", async () => {
    await page.locator(`${sidebar} textarea`).fill("Once upon a time");
    await page.keyboard.press("Tab");
    await expect(page.locator(`${sidebar} button`)).toBeFocused();
    await page.keyboard.press("Enter");
    const reply = await lastReply(page, sidebar);
    console.log(`sidebar chat: ${JSON.stringify(reply)}`);
    expect(reply.text.trim().length).toBeGreaterThan(0);
    expect(reply.meta).toContain("tokens/s");
  });

  await test.step("Stop ends a reply mid-stream; the element answers again after", async () => {
    // Attribute changes apply to the next message: a long reply to stop.
    await page.locator(article).evaluate((el) => el.setAttribute("max-tokens", "400"));
    await page.locator(`${article} textarea`).fill("Tell me a long story about a dog.");
    await page.locator(`${article} textarea`).press("Enter");
    const button = page.locator(`${article} button`);
    await expect(button).toHaveText("Stop");
    await expect(page.locator(`${article} [role="log"]`)).toHaveAttribute("aria-busy", "true");
    const streaming = page.locator(`${article} .message.assistant`).last().locator(".bubble");
    await expect(streaming).not.toBeEmpty();
    await button.click();
    const stopped = await lastReply(page, article);
    console.log(`stopped: ${JSON.stringify(stopped)}`);
    expect(stopped.finish).toBe("abort");
    expect(stopped.tokens).toBeLessThan(400);
    expect(stopped.text.length).toBeGreaterThan(0);
    expect(stopped.meta).toContain("stopped");
    await expect(button).toHaveText("Send");
    await expect(page.locator(`${article} .status`)).toHaveText("Stopped");

    await page.locator(article).evaluate((el) => el.setAttribute("max-tokens", "24"));
    await page.locator(`${article} textarea`).fill("And then?");
    await page.locator(`${article} textarea`).press("Enter");
    const again = await lastReply(page, article);
    expect(again.text.trim().length).toBeGreaterThan(0);
    expect(again.tokens).toBeLessThanOrEqual(24);
  });

  await test.step("the model was loaded once for both elements", async () => {
    const shared = await page.evaluate(() => {
      const Wisp = (window as unknown as { Wisp: typeof WispSdk }).Wisp;
      const [a, b] = [...document.querySelectorAll("wisp-chat")];
      return {
        created: Wisp.sharedEngines.created,
        sameEngine: a?.engine !== undefined && a.engine === b?.engine,
        defined: customElements.get("wisp-chat") === Wisp.WispChatElement,
      };
    });
    expect(shared).toEqual({ created: 1, sameEngine: true, defined: true });
    expect(workers).toHaveLength(1);
    // The loader reads config.json more than once per load (probe, download into the model cache):
    // compare with what one plain createEngine of the same model fetches from an empty cache (the
    // elements' load filled it, so clear it first).
    const byElements = configRequests.length;
    await page.evaluate(async (model) => {
      const Wisp = (window as unknown as { Wisp: typeof WispSdk }).Wisp;
      await Wisp.clearCache();
      const engine = await Wisp.createEngine({ model });
      await engine.unload();
    }, MODEL);
    const byOneEngine = configRequests.length - byElements;
    console.log(`config.json fetched ${byElements}× by two elements, ${byOneEngine}× by one createEngine`);
    expect(byOneEngine).toBeGreaterThan(0);
    expect(byElements).toBe(byOneEngine);
    expect(workers).toHaveLength(2);
  });

  await test.step("model attribute changes: same model → same engine; a missing one → its error as a sentence", async () => {
    const sidebarBox = page.locator(`${sidebar} .box`);
    const created = () =>
      page.evaluate(() => (window as unknown as { Wisp: typeof WispSdk }).Wisp.sharedEngines.created);
    const sameAsArticle = () =>
      page.evaluate(() => {
        const [a, b] = [...document.querySelectorAll("wisp-chat")];
        return a?.engine !== undefined && a.engine === b?.engine;
      });
    // The same folder named by its absolute URL is the same model: no new load.
    await page.locator(sidebar).evaluate((el, url) => el.setAttribute("model", url), `${baseURL}${MODEL}`);
    await expect(sidebarBox).toHaveAttribute("data-state", "ready");
    expect(await created()).toBe(1);
    expect(await sameAsArticle()).toBe(true);
    await page
      .locator(sidebar)
      .evaluate((el, url) => el.setAttribute("model", url), `${MODEL}no-such-model/`);
    await expect(sidebarBox).toHaveAttribute("data-state", "error", { timeout: 60_000 });
    const error = page.locator(`${sidebar} .box > .error`);
    await expect(error).toHaveAttribute("data-error-name", "ModelFileError");
    console.log(`missing model: ${await error.textContent()}`);
    await expect(error).not.toContainText("    at ");
    expect(await created()).toBe(2);
    await page.locator(sidebar).evaluate((el, url) => el.setAttribute("model", url), MODEL);
    await expect(sidebarBox).toHaveAttribute("data-state", "ready");
    await expect(error).toBeEmpty();
    expect(await created()).toBe(2);
    expect(await sameAsArticle()).toBe(true);
  });

  // Full-page shots from the top (the sidebar is sticky: scrolled down, it would follow the viewport).
  const top = () => page.evaluate(() => window.scrollTo(0, 0));
  await top();
  await page.screenshot({ path: info.outputPath("article-desktop.png"), fullPage: true });
  await page.locator(sidebar).screenshot({ path: info.outputPath("wisp-chat-sidebar-desktop.png") });
  await page.locator(article).screenshot({ path: info.outputPath("wisp-chat-article-desktop.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  await top();
  await page.screenshot({ path: info.outputPath("article-phone.png"), fullPage: true });
  await page.locator(article).screenshot({ path: info.outputPath("wisp-chat-article-phone.png") });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.locator(article).screenshot({ path: info.outputPath("wisp-chat-article-phone-dark.png") });
  expect(errors).toEqual([]);
});

test("without WebGPU: <wisp-chat> shows WebGPUUnavailable as a sentence, nothing uncaught", async ({
  baseURL,
}, info) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const errors = trackErrors(page);
    await page.goto(`${baseURL}${ARTICLE}?model=${MODEL}`);
    const error = page.locator("#article-chat .box > .error");
    await expect(page.locator("#article-chat .box")).toHaveAttribute("data-state", "error", {
      timeout: 60_000,
    });
    await expect(error).toHaveAttribute("data-error-name", "WebGPUUnavailable");
    await expect(error).toHaveAttribute("role", "alert");
    const sentence = (await error.textContent()) ?? "";
    console.log(`shown: ${sentence}`);
    expect(sentence).toMatch(
      /^(This browser has no WebGPU support|WebGPU is switched off).* — try Chrome 113\+/,
    );
    expect(sentence).not.toMatch(/\n|\bat .*:\d+/);
    await expect(page.locator("#sidebar-chat .box")).toHaveAttribute("data-state", "error");
    await expect(page.locator("#article-chat button")).toBeDisabled();
    await page
      .locator("#article-chat")
      .screenshot({ path: info.outputPath("wisp-chat-no-webgpu-phone.png") });
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
});
