// The chat app (apps/chat) in Chromium with WebGPU (SwiftShader without a GPU): stories260K from the
// app's own /models/ route, loaded through the UI; a streamed reply, Stop, regenerate, edit; a reload
// keeps the conversation and the downloaded model (the second load fetches no weights); the model
// manager deletes it. Screenshots at desktop and phone widths, light and dark, go to test-results/.
import { chromium, expect, type Locator, type Page, test } from "@playwright/test";
import { CHAT_URL, CHROMIUM, CHROMIUM_ARGS } from "../playwright.config.ts";

const MODEL_NAME = "stories260K (local)";
/** Requests for the model's weight files (the page's and its workers'). */
const WEIGHTS = /\/models\/stories260K\/hf\/[^?]*\.safetensors(?:$|\?)/;

function trackErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

const assistant = (page: Page) => page.locator('#log article[data-role="assistant"]');
const user = (page: Page) => page.locator('#log article[data-role="user"]');

/** Waits for the last reply to finish; returns its text, finish reason, token count and stats line. */
async function lastReply(page: Page) {
  const reply = assistant(page).last();
  await expect(reply).toHaveAttribute("data-finish", /.+/, { timeout: 180_000 });
  return {
    text: ((await reply.locator(".msg-body").textContent()) ?? "").trim(),
    finish: await reply.getAttribute("data-finish"),
    tokens: Number(await reply.getAttribute("data-tokens")),
    stats: (await reply.locator(".msg-stats").textContent()) ?? "",
  };
}

async function setSettings(page: Page, values: Record<string, string>) {
  await page.getByRole("button", { name: "Settings" }).click();
  const dialog = page.getByRole("dialog", { name: "Settings" });
  await expect(dialog).toBeVisible();
  for (const [label, value] of Object.entries(values)) await dialog.getByLabel(label).fill(value);
  await dialog.getByRole("button", { name: "Done" }).click();
  await expect(dialog).toBeHidden();
}

async function openModels(page: Page): Promise<Locator> {
  await page.locator("#model-button").click();
  const dialog = page.getByRole("dialog", { name: "Models" });
  await expect(dialog).toBeVisible();
  return dialog;
}

async function loadStories(page: Page) {
  const dialog = await openModels(page);
  const card = dialog.locator('[data-model-id="stories260K-local"]');
  await expect(card.locator(".fit")).toHaveAttribute("data-level", "ok", { timeout: 30_000 });
  await dialog.getByRole("button", { name: `Load ${MODEL_NAME}` }).click();
  await expect(dialog).toBeHidden();
  await expect(page.locator("#model-button")).toHaveAttribute("data-state", "ready", { timeout: 300_000 });
  await expect(page.locator("#load-card")).toBeHidden();
}

/** Sends `text` with Enter and records the reply's text length each time it changes (in the page). */
async function sendAndWatch(page: Page, text: string) {
  await page.evaluate(() => {
    const w = window as unknown as { lengths: number[] };
    w.lengths = [];
    const log = document.getElementById("log")!;
    new MutationObserver(() => {
      const body = [...log.querySelectorAll('article[data-role="assistant"] .msg-body')].at(-1);
      const n = body?.textContent?.length ?? 0;
      if (body?.closest(".streaming") && n > 0 && w.lengths.at(-1) !== n) w.lengths.push(n);
    }).observe(log, { subtree: true, childList: true, characterData: true });
  });
  const input = page.getByRole("textbox", { name: "Message" });
  // lastReply's locator is the last assistant article: wait until the new one is there, or it can
  // see the previous reply's data-finish and then read the new, still empty body (a race seen once).
  const replies = await assistant(page).count();
  await input.fill(text);
  await input.press("Enter");
  await expect(input).toHaveValue("");
  await expect(assistant(page)).toHaveCount(replies + 1);
}

test("chat app: load stories260K through the UI, stream, stop, regenerate, edit, persist, cached load, delete", async ({
  page,
}, info) => {
  test.setTimeout(900_000);
  const errors = trackErrors(page);
  const weightRequests: string[] = [];
  page.context().on("request", (r) => {
    if (WEIGHTS.test(r.url())) weightRequests.push(r.url());
  });
  const shot = async (name: string) => {
    await page.waitForTimeout(300); // colour transitions after a theme switch
    await page.screenshot({ path: info.outputPath(`${name}.png`) });
  };
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto(CHAT_URL);
  await expect(page.getByRole("heading", { name: "Chat with a model on your own GPU" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Send" })).toBeDisabled();
  await shot("desktop-light-welcome");

  await test.step("the catalog shows each model and whether this GPU can run it", async () => {
    const dialog = await openModels(page);
    await expect(dialog.locator(".model-card")).toHaveCount(5);
    for (const name of [
      "SmolLM2 360M Instruct",
      "Qwen2.5 0.5B Instruct",
      "Qwen3 0.6B",
      "Llama 3.2 1B Instruct",
    ]) {
      await expect(dialog.getByRole("heading", { name })).toBeVisible();
    }
    await expect(dialog.locator("#device-line")).toContainText("GPU:");
    await expect(dialog.locator('[data-model-id="stories260K-local"] .fit')).toHaveAttribute(
      "data-level",
      "ok",
    );
    await expect(dialog.locator('[data-model-id="llama-3.2-1b-instruct"] .model-facts')).toContainText(
      "1.24B parameters",
    );
    await shot("desktop-light-models");
    await dialog.getByRole("button", { name: "Close" }).click();
  });

  await test.step("load stories260K: per-phase progress, then ready", async () => {
    const started = Date.now();
    const dialog = await openModels(page);
    await dialog.getByRole("button", { name: `Load ${MODEL_NAME}` }).click();
    const card = page.locator("#load-card");
    await expect(card).toBeVisible();
    await expect(card.locator(".phase")).toHaveCount(5);
    await expect(card.getByRole("button", { name: "Cancel" })).toBeVisible();
    await shot("desktop-light-loading");
    await expect(page.locator("#model-button")).toHaveAttribute("data-state", "ready", { timeout: 300_000 });
    await expect(card).toBeHidden();
    console.log(
      `stories260K ready after ${Date.now() - started} ms; weight requests: ${weightRequests.length}`,
    );
    expect(weightRequests.length).toBeGreaterThan(0);
    await expect(page.getByRole("textbox", { name: "Message" })).toBeFocused();
  });

  await setSettings(page, { "Max tokens": "40", Seed: "7" });

  await test.step("Enter sends; the reply streams in over time and ends with stats", async () => {
    const input = page.getByRole("textbox", { name: "Message" });
    await input.fill("Tell me a story.");
    await input.press("Shift+Enter");
    await expect(input).toHaveValue("Tell me a story.\n");
    await input.fill("");
    await sendAndWatch(page, "Tell me a story.");
    await expect(user(page).last().locator(".msg-body")).toHaveText("Tell me a story.");
    await expect(page.getByRole("button", { name: "Stop" })).toBeVisible();
    const reply = await lastReply(page);
    const lengths = await page.evaluate(() => (window as unknown as { lengths: number[] }).lengths);
    console.log(`first reply: ${JSON.stringify(reply)}; text lengths while streaming: ${lengths.join(",")}`);
    expect(lengths.length).toBeGreaterThanOrEqual(3);
    expect(reply.text.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(reply.finish);
    expect(reply.tokens).toBeGreaterThan(0);
    expect(reply.tokens).toBeLessThanOrEqual(40);
    expect(reply.stats).toMatch(/^\d+ tokens? · prefill [\d.]+ tok\/s · decode [\d.]+ tok\/s/);
    await expect(page.getByRole("button", { name: "Send" })).toBeVisible();
    await expect(page.locator("#log")).toHaveAttribute("aria-busy", "false");
  });

  await test.step("Stop ends a long reply mid-stream", async () => {
    await setSettings(page, { "Max tokens": "400" });
    await sendAndWatch(page, "Tell me a long story about a dog.");
    const stop = page.getByRole("button", { name: "Stop" });
    await expect(stop).toBeVisible();
    await expect(page.locator("#log")).toHaveAttribute("aria-busy", "true");
    await expect
      .poll(
        () =>
          assistant(page)
            .last()
            .locator(".msg-body")
            .textContent()
            .then((t) => t ?? ""),
        { timeout: 120_000 },
      )
      .toMatch(/\w{2,}/);
    await stop.click();
    const stopped = await lastReply(page);
    console.log(`stopped: ${JSON.stringify(stopped)}`);
    expect(stopped.finish).toBe("abort");
    expect(stopped.tokens).toBeLessThan(400);
    expect(stopped.stats).toContain("stopped");
    await expect(page.locator("#composer-status")).toHaveText("Stopped");
  });

  await test.step("regenerate replaces the last reply", async () => {
    await setSettings(page, { "Max tokens": "24", Seed: "" });
    const before = await assistant(page).last().getAttribute("data-id");
    await assistant(page).last().getByRole("button", { name: "Regenerate this reply" }).click();
    await expect(assistant(page)).toHaveCount(2);
    const again = await lastReply(page);
    expect(await assistant(page).last().getAttribute("data-id")).not.toBe(before);
    expect(again.text.length).toBeGreaterThan(0);
    expect(again.tokens).toBeLessThanOrEqual(24);
    console.log(`regenerated: ${JSON.stringify(again)}`);
  });

  await test.step("edit the last message and send it again; Esc stops the reply", async () => {
    await setSettings(page, { "Max tokens": "400" });
    await user(page).last().getByRole("button", { name: "Edit this message" }).click();
    const editor = page.getByRole("textbox", { name: "Edit your message" });
    await expect(editor).toBeFocused();
    await editor.fill("Once upon a time, a dog named Max");
    await editor.press("Enter");
    await expect(user(page).last().locator(".msg-body")).toHaveText("Once upon a time, a dog named Max");
    await expect(user(page)).toHaveCount(2);
    await expect(assistant(page)).toHaveCount(2);
    await expect
      .poll(
        () =>
          assistant(page)
            .last()
            .locator(".msg-body")
            .textContent()
            .then((t) => t ?? ""),
        { timeout: 120_000 },
      )
      .toMatch(/\w{2,}/);
    await page.getByRole("textbox", { name: "Message" }).focus();
    await page.keyboard.press("Escape");
    const edited = await lastReply(page);
    console.log(`after edit (Esc): ${JSON.stringify(edited)}`);
    expect(edited.finish).toBe("abort");
    expect(edited.text.length).toBeGreaterThan(0);
    await setSettings(page, { "Max tokens": "24" });
  });

  await test.step("copy a reply", async () => {
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: CHAT_URL });
    const copy = assistant(page).last().getByRole("button", { name: "Copy reply" });
    await copy.click();
    await expect(copy).toContainText("Copied");
  });

  await test.step("screenshots: desktop and phone, light and dark", async () => {
    await page.locator("#log").evaluate((el) => {
      el.scrollTop = 0;
    });
    await shot("desktop-light-chat");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot("desktop-dark-chat");
    const dialog = await openModels(page);
    await expect(dialog.locator("#loaded-line")).toContainText(MODEL_NAME);
    await shot("desktop-dark-models");
    await dialog.getByRole("button", { name: "Close" }).click();
    await page.setViewportSize({ width: 375, height: 812 });
    await shot("phone-dark-chat");
    await page.emulateMedia({ colorScheme: "light" });
    await shot("phone-light-chat");
    await page.getByRole("button", { name: "Conversations" }).click();
    await expect(page.getByRole("button", { name: "New chat" })).toBeFocused();
    await expect.poll(async () => (await page.locator("#sidebar").boundingBox())?.x).toBe(0);
    await shot("phone-light-sidebar");
    await page.keyboard.press("Escape");
    await expect(page.locator("#sidebar")).not.toBeInViewport();
    await openModels(page);
    await shot("phone-light-models");
    await page.keyboard.press("Escape");
    await page.getByRole("button", { name: "Settings" }).click();
    await shot("phone-light-settings");
    // The 8-bit activations switch is kept across reloads of the settings (applies to the next load).
    const fast = page.getByRole("checkbox", { name: "Faster decoding (8-bit activations)" });
    await expect(fast).not.toBeChecked();
    await fast.check();
    expect(
      await page.evaluate(() => JSON.parse(localStorage.getItem("wisp-chat:settings")!).fastDecode),
    ).toBe(true);
    await fast.uncheck();
    await page.keyboard.press("Escape");
    // No horizontal scrolling at phone width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  const messagesBefore = await page.locator("#log article").count();
  const cachedName = async (dialog: Locator) => dialog.locator("#cached-list .cached-item");

  await test.step("the downloaded model is listed in the manager", async () => {
    const dialog = await openModels(page);
    const items = await cachedName(dialog);
    await expect.soft(items, "the SDK's model cache lists stories260K after a load").toHaveCount(1);
    console.log(
      `manager: ${((await dialog.locator("#cached-list").textContent()) ?? "").replace(/\s+/g, " ")}`,
    );
    console.log(`storage: ${await dialog.locator("#storage-line").textContent()}`);
    await dialog.getByRole("button", { name: "Close" }).click();
  });

  await test.step("reload: the conversation is still there; the second load fetches no weights", async () => {
    await page.reload();
    await expect(page.locator("#log article")).toHaveCount(messagesBefore);
    await expect(user(page).first().locator(".msg-body")).toHaveText("Tell me a story.");
    await expect(page.locator("#conversation-list li")).toHaveCount(1);
    await expect(page.locator("#conversation-list li.active")).toContainText("Tell me a story.");
    const dialog = await openModels(page);
    await expect
      .soft(await cachedName(dialog), "the model is still listed after a reload")
      .toHaveCount(1, { timeout: 10_000 });
    await expect
      .soft(dialog.locator('[data-model-id="stories260K-local"] .badge-ok'))
      .toHaveText("downloaded");
    await dialog.getByRole("button", { name: "Close" }).click();
    const before = weightRequests.length;
    const started = Date.now();
    await loadStories(page);
    const fetched = weightRequests.slice(before);
    console.log(
      `second load: ready after ${Date.now() - started} ms, weight requests ${JSON.stringify(fetched)}`,
    );
    expect.soft(fetched, "the second load reads the weights from the browser's cache").toEqual([]);
    await sendAndWatch(page, "And then?");
    const reply = await lastReply(page);
    expect(reply.text.length).toBeGreaterThan(0);
  });

  await test.step("delete the model in the manager, then the conversation", async () => {
    const dialog = await openModels(page);
    const items = await cachedName(dialog);
    if ((await items.count()) > 0) {
      const name = (await items.first().locator(".cached-name").textContent()) ?? "";
      await dialog.getByRole("button", { name: `Delete ${name}` }).click();
      await expect(items).toHaveCount(0);
      await expect(dialog.locator("#cached-list")).toContainText("No models downloaded yet");
      await expect(dialog.locator('[data-model-id="stories260K-local"] .badge-ok')).toHaveCount(0);
    } else {
      expect.soft(await items.count(), "a cached model to delete").toBeGreaterThan(0);
    }
    await dialog.getByRole("button", { name: "Close" }).click();
    await page.getByRole("button", { name: /^Delete chat/ }).click();
    await expect(page.locator("#conversation-list li")).toHaveCount(0);
    await expect(page.getByRole("heading", { name: "Chat with a model on your own GPU" })).toBeVisible();
    await page.reload();
    await expect(page.locator("#conversation-list li")).toHaveCount(0);
  });

  expect(errors).toEqual([]);
});

test("chat app: a model can be cancelled while loading; no WebGPU is a sentence with a next step", async ({
  page,
}, info) => {
  await page.setViewportSize({ width: 375, height: 812 });
  const errors = trackErrors(page);
  await page.goto(CHAT_URL);
  await test.step("Cancel during a load returns to the picker", async () => {
    const dialog = await openModels(page);
    await dialog.getByRole("button", { name: `Load ${MODEL_NAME}` }).click();
    await expect(page.locator("#load-card")).toBeVisible();
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect(page.locator("#load-card")).toBeHidden();
    await expect(page.locator("#model-button")).toHaveAttribute("data-state", "none");
    await expect(page.locator("#composer-status")).toHaveText("Loading cancelled");
  });
  await test.step("Markdown is rendered, code highlighted, model HTML never parsed", async () => {
    const out = await page.evaluate(async () => {
      const path = "/src/markdown.ts";
      const md = (await import(/* @vite-ignore */ path)) as { renderReply(t: string): string };
      const html = md.renderReply(
        "# Title\n\n**bold** and `code`\n\n```js\nconst x = 1; // one\n```\n\n<img src=x onerror=alert(1)> [link](javascript:alert(1)) ![pic](https://example.com/a.png)",
      );
      const div = document.createElement("div");
      div.innerHTML = html;
      return {
        html,
        unsafe: div.querySelectorAll("img, script, [onerror], a[href^='javascript']").length,
        text: div.textContent ?? "",
      };
    });
    expect(out.html).toContain("<h1>Title</h1>");
    expect(out.html).toContain("<strong>bold</strong>");
    expect(out.html).toContain('class="hljs-keyword"');
    expect(out.html).toContain("Copy code");
    expect(out.unsafe).toBe(0);
    expect(out.text).toContain("<img src=x onerror=alert(1)>");
  });
  await test.step("a folder URL with no model is explained", async () => {
    const dialog = await openModels(page);
    await dialog.getByLabel("A URL or Hugging Face id").fill("/models/no-such-model/");
    await dialog.getByRole("button", { name: "Load", exact: true }).click();
    const error = page.locator("#load-error");
    await expect(error).toBeVisible({ timeout: 60_000 });
    const sentence = (await error.textContent()) ?? "";
    console.log(`missing model: ${sentence.replace(/\s+/g, " ")}`);
    await expect(error).toHaveAttribute("data-error-name", /^(ModelFileError|NetworkError)$/);
    await expect(page.locator("#load-error-next")).toHaveText(/^Check /);
    expect(sentence).not.toMatch(/\bat \S+:\d+/);
    await expect(page.getByRole("button", { name: "Choose another model" })).toBeVisible();
    await page.screenshot({ path: info.outputPath("phone-light-load-error.png") });
  });
  await test.step("a saved Markdown reply renders with highlighted code (light and dark, phone and desktop)", async () => {
    await page.evaluate(async () => {
      const path = "/src/conversations.ts";
      const store = (await import(/* @vite-ignore */ path)) as {
        saveConversation(c: unknown): Promise<void>;
      };
      const now = Date.now();
      const reply = [
        "Here is a **Python** function that reverses a string, and one in `TypeScript`:",
        "",
        "```python",
        "def reverse(text: str) -> str:",
        '    """Return text backwards."""',
        "    return text[::-1]  # slicing with step -1",
        "```",
        "",
        "```ts",
        'export const reverse = (s: string): string => [...s].reverse().join("");',
        "```",
        "",
        "| language | length |",
        "|---|---|",
        "| Python | 1 line |",
        "| TypeScript | 1 line |",
        "",
        "1. Slicing copies the string.",
        "2. Spreading handles surrogate pairs.",
        "",
        "> Both run in O(n).",
      ].join("\n");
      await store.saveConversation({
        id: "chat-markdown-sample",
        title: "Reverse a string",
        createdAt: now,
        updatedAt: now,
        messages: [
          { id: "m1", role: "user", content: "How do I reverse a string?", createdAt: now },
          {
            id: "m2",
            role: "assistant",
            content: reply,
            createdAt: now,
            model: "Qwen2.5 0.5B Instruct",
            finish: "stop",
            stats: {
              completionTokens: 96,
              promptTokens: 30,
              prefillTokensPerSecond: 850,
              decodeTokensPerSecond: 42.5,
            },
          },
        ],
      });
      localStorage.setItem("wisp-chat:current", "chat-markdown-sample");
    });
    await page.reload();
    await expect(page.locator("#log .code-block")).toHaveCount(2);
    await expect(page.locator("#log .code-block .hljs-keyword").first()).toBeVisible();
    await expect(page.locator("#log table")).toBeVisible();
    await page.screenshot({ path: info.outputPath("phone-light-markdown.png") });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.waitForTimeout(300);
    await page.screenshot({ path: info.outputPath("phone-dark-markdown.png") });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: info.outputPath("desktop-dark-markdown.png") });
    await page.emulateMedia({ colorScheme: "light" });
    await page.waitForTimeout(300);
    await page.screenshot({ path: info.outputPath("desktop-light-markdown.png") });
    // The toggle overrides the system's scheme, and the choice survives a reload.
    const theme = page.getByRole("button", { name: /^Theme: / });
    await expect(theme).toHaveAccessibleName("Theme: system (switch to light)");
    await theme.click();
    await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
    await theme.click();
    await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
    await page.reload();
    await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
    await expect(page.locator("body")).toHaveCSS("background-color", "rgb(14, 15, 19)");
    await theme.click();
    await expect(page.locator("html")).not.toHaveAttribute("data-theme", /./);
  });
  expect(errors).toEqual([]);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const noGpu = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const noGpuErrors = trackErrors(noGpu);
    await noGpu.goto(CHAT_URL);
    await expect(noGpu.locator("#composer-notice")).toContainText("no WebGPU support — try Chrome");
    const dialog = await openModels(noGpu);
    await expect(dialog.locator('[data-model-id="stories260K-local"] .fit')).toHaveAttribute(
      "data-level",
      "no",
    );
    await noGpu.screenshot({ path: info.outputPath("desktop-light-no-webgpu.png") });
    expect(noGpuErrors).toEqual([]);
  } finally {
    await browser.close();
  }
});
