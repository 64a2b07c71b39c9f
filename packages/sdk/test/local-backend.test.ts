// The in-thread backend on a real device (Dawn in Node; SwiftShader without a GPU) with stories260K:
// the same OpenAI-style engine the browser gets, minus the worker.
import { nodeDevice } from "@wisp/gpu-test/node";
import { folderSource } from "@wisp/runtime/node";
import { beforeAll, describe, expect, it } from "vitest";
import { createLocalEngine } from "../src/backend/index.ts";
import type { WispEngine } from "../src/client/engine.ts";
import { ContextLengthExceeded } from "../src/errors.ts";

const hf = new URL("../../../../shared/models/stories260K/hf", import.meta.url).pathname;
// llama2.c's greedy story from BOS: a greedy continuation of its own first words follows the same path.
const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the";
let engine: WispEngine;

beforeAll(async () => {
  const { device } = await nodeDevice();
  engine = await createLocalEngine({
    device,
    model: { kind: "source", source: folderSource(hf), label: "stories260K" },
    quant: "f32",
    contextLength: 96,
  });
});

describe("LocalWispBackend with stories260K (f32)", () => {
  it("reports what it loaded", () => {
    expect(engine.model).toMatchObject({
      model: "stories260K",
      architecture: "LlamaForCausalLM",
      contextLength: 96,
      quant: "f32",
      hasChatTemplate: false,
    });
  });

  it("greedy completion continues llama2.c's story; streaming gives the same text", async () => {
    const r = await engine.completions.create({ prompt: "Once upon a time", max_tokens: 10, temperature: 0 });
    expect(r.choices[0]!.text.length).toBeGreaterThan(10);
    expect(STORY.startsWith("Once upon a time" + r.choices[0]!.text)).toBe(true);
    expect(r.usage!.completion_tokens).toBe(10);
    const stream = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 10,
      temperature: 0,
      stream: true,
    });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.text ?? "";
    expect(text).toBe(r.choices[0]!.text);
  });

  it("stop strings, seeds and logprobs", async () => {
    const stopped = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 20,
      temperature: 0,
      stop: [" named"],
    });
    expect(stopped.choices[0]).toMatchObject({ text: ", there was a little girl", finish_reason: "stop" });
    const sample = { prompt: "Once upon a time", max_tokens: 6, temperature: 1, seed: 7, logprobs: 0 };
    const a = await engine.completions.create(sample);
    const b = await engine.completions.create(sample);
    expect(b.choices[0]!.text).toBe(a.choices[0]!.text);
    const lp = a.choices[0]!.logprobs!;
    expect(lp.token_logprobs).toHaveLength(6);
    expect(lp.token_logprobs.every((l) => l <= 0 && Number.isFinite(l))).toBe(true);
    expect(lp.tokens.join("")).toBe(a.choices[0]!.text);
  });

  it("chat renders through the fallback template and answers", async () => {
    const r = await engine.chat.completions.create({
      messages: [
        { role: "system", content: "Tell a story." },
        { role: "user", content: "A cat." },
      ],
      max_tokens: 4,
      temperature: 0,
    });
    expect(r.choices[0]!.message.content.length).toBeGreaterThan(0);
    // "<s>System: Tell a story.\nUser: A cat.\nAssistant:" tokenized
    expect(r.usage.prompt_tokens).toBeGreaterThan(10);
  });

  it("abort stops within one token and the engine keeps answering", async () => {
    const controller = new AbortController();
    const stream = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 60,
      temperature: 0,
      stream: true,
      signal: controller.signal,
    });
    let chunks = 0;
    let finish: string | null | undefined;
    for await (const c of stream) {
      if (++chunks === 5) controller.abort();
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe("abort");
    const last = (await engine.stats()).lastRequest!;
    expect(last.finishReason).toBe("abort");
    expect(last.tokensAfterAbort).toBeLessThanOrEqual(1);
    expect(last.completionTokens).toBeLessThan(60);
    const next = await engine.completions.create({
      prompt: "Once upon a time",
      max_tokens: 4,
      temperature: 0,
    });
    expect(next.choices[0]!.finish_reason).toBe("length");
  });

  it("concurrent requests are queued and each equals its sequential answer", async () => {
    const req = (prompt: string) => ({ prompt, max_tokens: 6, temperature: 0 });
    const alone = await engine.completions.create(req("Once upon a time"));
    const [a, b] = await Promise.all([
      engine.completions.create(req("Once upon a time")),
      engine.completions.create({ ...req("Lily"), stream: true }).then(async (s) => {
        let t = "";
        for await (const c of s) t += c.choices[0]?.text ?? "";
        return t;
      }),
    ]);
    const bAlone = await engine.completions.create(req("Lily"));
    expect(a.choices[0]!.text).toBe(alone.choices[0]!.text);
    expect(b).toBe(bAlone.choices[0]!.text);
    expect((await engine.stats()).activeRequests).toBe(0);
  });

  it("a prompt longer than the context is a typed error", async () => {
    await expect(
      engine.completions.create({ prompt: Array.from({ length: 200 }, () => 5), max_tokens: 1 }),
    ).rejects.toBeInstanceOf(ContextLengthExceeded);
  });
});
